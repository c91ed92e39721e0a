"""MMSegmentation plugin: registers the MambaVision backbone in mmseg's MODELS registry.

Use it from any config with ``custom_imports = dict(imports=['mmseg_plugin'], allow_failed_imports=False)``
and ``backbone=dict(type='MambaVision', arch='tiny', ...)`` (``'MM_mamba_vision'``, the published name,
works too).
"""
from mmseg.registry import MODELS
from mmengine.logging import print_log

from mambavision_backbone import MambaVision, route_logs_to

from .transforms import CheckSegLabels

__all__ = ['CheckSegLabels']

MODELS.register_module('MambaVision', module=MambaVision, force=True)
MODELS.register_module('MM_mamba_vision', module=MambaVision, force=True)
route_logs_to(lambda message, level: print_log(message, logger='current', level=level))
