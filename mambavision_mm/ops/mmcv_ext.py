"""What ``import mmcv._ext`` gives where mmcv has no compiled extension (mmcv-lite): see :mod:`.ext_finder`.

mmcv's Python op wrappers (``mmcv.ops.RoIAlign``, ``nms``, ``batched_nms``, ...) call their kernels through
this module, so mmdet's and mmseg's code runs unchanged. It has the functions the shipped models call, in plain
PyTorch; any other name mmcv asks for is a function that raises, when it is called, one line naming the op and
the fix (mmcv checks the names when ``mmcv.ops`` is imported, so failing then would break every import).
"""
from .nms import nms
from .roi_align import roi_align_backward, roi_align_forward

__all__ = ['nms', 'roi_align_backward', 'roi_align_forward']

INSTALL_COMPILED = 'pip install mmcv==2.1.0 (it compiles them; in a checkout: make venv MMCV=compiled)'


class CompiledOpMissing(NotImplementedError):
    """An mmcv op that needs mmcv's compiled extension, which this environment does not have."""


def __getattr__(name: str):
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise CompiledOpMissing(f"mmcv op '{name}' needs mmcv's compiled ops, which are not installed (mmcv-lite); "
                                f'only {", ".join(__all__)} have PyTorch versions here. Install them: '
                                f'{INSTALL_COMPILED}')

    missing.__name__ = name
    return missing
