"""What the MambaVision plugins add to OpenMMLab, written once for mmdet and mmseg.

Importing this package (``mmdet_plugin`` and ``mmseg_plugin`` do) registers, in mmengine's root
registries, where the mmdet and mmseg scopes find them:

- the MambaVision backbone (``MambaVision``, and ``MM_mamba_vision``, the published name) in ``MODELS``;
- safe checkpoint loading on torch >= 2.6 for every mmengine entry point (``checkpoint``);
- ``PlainCheckpointHook`` and ``DatasetCheckHook`` (``hooks``), listed in the published configs;
- ``DeviceAwareOptimWrapperConstructor`` (``optim``): the published AMP recipes run without CUDA;
- ``CPUDistributedDataParallel`` (``distributed``) for launched CPU runs.
"""
from mmengine.logging import print_log
from mmengine.registry import MODELS

from mambavision_backbone import MambaVision, route_logs_to

from .checkpoint import load_local_checkpoint
from .dataset_checks import DatasetError, check_dataset
from .distributed import CPUDistributedDataParallel
from .hooks import DatasetCheckHook, PlainCheckpointHook
from .optim import DeviceAwareOptimWrapperConstructor

__all__ = ['load_local_checkpoint', 'DatasetError', 'check_dataset', 'CPUDistributedDataParallel',
           'DatasetCheckHook', 'PlainCheckpointHook', 'DeviceAwareOptimWrapperConstructor']

MODELS.register_module('MambaVision', module=MambaVision, force=True)
MODELS.register_module('MM_mamba_vision', module=MambaVision, force=True)
route_logs_to(lambda message, level: print_log(message, logger='current', level=level))
