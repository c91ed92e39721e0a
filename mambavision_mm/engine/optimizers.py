"""An optimizer-wrapper constructor that lets the published AMP recipes run where AMP cannot."""
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DeviceAwareOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, except that ``AmpOptimWrapper`` becomes ``OptimWrapper`` (fp32,
    logged once) on a machine with no accelerator, where mmengine's AmpOptimWrapper refuses to start.

    Set it as ``optim_wrapper.constructor``; everything else (``paramwise_cfg``, ...) works as in the default.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if optim_wrapper_cfg.get('type') == 'AmpOptimWrapper' and get_device() == 'cpu':
            optim_wrapper_cfg = {k: v for k, v in optim_wrapper_cfg.items() if k not in ('loss_scale', 'dtype')}
            optim_wrapper_cfg['type'] = 'OptimWrapper'
            print_log('no CUDA device: automatic mixed precision is switched off (OptimWrapper)', logger='current')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
