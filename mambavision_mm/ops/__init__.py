"""Pure-PyTorch versions of the compiled mmcv functions the shipped models call (RoIAlign and NMS), used by
mmcv's own op wrappers where mmcv has no compiled extension (mmcv-lite); compiled mmcv, where installed, is
used as it is. Importing this package installs the switch (:mod:`.ext_finder`) and logs which ops run."""
import importlib.machinery

from mmengine.logging import print_log

from .ext_finder import EXTENSION, install
from .nms import nms
from .roi_align import roi_align_backward, roi_align_forward

__all__ = ['nms', 'roi_align_backward', 'roi_align_forward', 'compiled_mmcv_ops']


def compiled_mmcv_ops() -> bool:
    """Whether mmcv's compiled extension is installed (the file, not whichever module imports as it)."""
    import mmcv
    return importlib.machinery.PathFinder.find_spec(EXTENSION, mmcv.__path__) is not None


install()
if compiled_mmcv_ops():
    print_log("mmcv ops: mmcv's compiled extension", logger='current')
else:
    print_log('mmcv ops: mmcv has no compiled extension here (mmcv-lite); RoIAlign and NMS run in PyTorch '
              '(mambavision_mm.ops), other compiled ops raise when called', logger='current')
