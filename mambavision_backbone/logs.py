"""Routing this package's log records to a host framework's logger (used by the OpenMMLab plugins)."""
import logging
from typing import Callable

PACKAGE_LOGGER = logging.getLogger('mambavision_backbone')


class _CallbackHandler(logging.Handler):
    def __init__(self, callback: Callable[[str, int], None]):
        super().__init__()
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        self.callback(record.getMessage(), record.levelno)


def route_logs_to(callback: Callable[[str, int], None]) -> None:
    """Send every INFO-or-higher record of this package to ``callback(message, level)`` instead of the root logger."""
    for handler in [h for h in PACKAGE_LOGGER.handlers if isinstance(h, _CallbackHandler)]:
        PACKAGE_LOGGER.removeHandler(handler)
    PACKAGE_LOGGER.addHandler(_CallbackHandler(callback))
    PACKAGE_LOGGER.setLevel(logging.INFO)
    PACKAGE_LOGGER.propagate = False
