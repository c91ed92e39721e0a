import logging
import os

import pytest

# Some CPUs report AMX that the machine does not enable; oneDNN then dies with SIGILL in bf16 matmuls
# (the autocast tests). Capping oneDNN's instruction set below AMX avoids it and changes nothing elsewhere.
os.environ.setdefault('ONEDNN_MAX_CPU_ISA', 'AVX512_CORE_BF16')
# The Triton scan backend is tested on CPU under Triton's interpreter, which must be on before triton is first
# imported (torch imports it with torch.utils.flop_counter, for one); nothing else here runs Triton kernels.
os.environ.setdefault('TRITON_INTERPRET', '1')


def pytest_sessionfinish(session, exitstatus):
    """A run in which no test passed is a failure, even when nothing failed (all skipped or deselected)."""
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if reporter is not None and exitstatus == 0 and not reporter.stats.get('passed'):
        reporter.write_line('no test passed: failing the run', red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def package_logs():
    """Messages logged by mambavision_backbone during the test (whether or not a plugin routes them)."""
    logger = logging.getLogger('mambavision_backbone')
    handler, level = _ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def mmengine_logs():
    """Messages logged through mmengine's current logger during the test."""
    from mmengine.logging import MMLogger
    logger, handler = MMLogger.get_current_instance(), _ListHandler()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture(scope='session')
def micro_data(tmp_path_factory):
    """A folder with both toy datasets for the micro configs: 6 detection images (3 batches of 2), 4 segmentation
    images."""
    from mambavision_mm.testing import generate_ade20k, generate_coco
    cwd = tmp_path_factory.mktemp('micro')
    generate_coco(str(cwd / 'data/toy_coco'), train=6, val=1, size=(160, 128))
    generate_ade20k(str(cwd / 'data/toy_ade'), train=4, val=1)
    return cwd
