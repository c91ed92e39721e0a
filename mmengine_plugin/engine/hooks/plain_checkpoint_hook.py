"""Checkpoints of plain data, which load with ``torch.load(weights_only=True)`` anywhere."""
import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS


def _plain(value):
    """numpy values inside containers as Python numbers and lists."""
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Write checkpoints as plain data, so that they load with ``torch.load(f, weights_only=True)``.

    mmengine pickles HistoryBuffer objects and numpy values into every checkpoint; this hook writes them
    as dicts, lists and numbers, and turns the history buffers back when a checkpoint is resumed.
    """

    priority = 'VERY_LOW'
    TAG = '__history_buffer__'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if hub:
            hub['log_scalars'] = {
                name: {self.TAG: True, 'max_length': buffer.max_length,
                       'log': buffer._log_history.tolist(), 'count': buffer._count_history.tolist()}
                for name, buffer in hub.get('log_scalars', {}).items()}
        for key in ('meta', 'message_hub'):
            if key in checkpoint:
                checkpoint[key] = _plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for name, value in scalars.items():
            if isinstance(value, dict) and value.get(self.TAG):
                scalars[name] = HistoryBuffer(value['log'], value['count'], value['max_length'])
