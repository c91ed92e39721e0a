"""What the MambaVision plugins add to OpenMMLab, written once for mmdet and mmseg.

Importing this package (``mmdet_plugin`` and ``mmseg_plugin`` do) registers, in mmengine's root
registries, where the mmdet and mmseg scopes find them:

- the MambaVision backbone (``MambaVision``, and ``MM_mamba_vision``, the published name) in ``MODELS``
  (``backbone``: config arguments checked by name);
- safe checkpoint loading on torch >= 2.6 for every mmengine entry point (``checkpoint``);
- crash-safe training, on in the published configs (docs/crash_safe_training.md): ``SafeCheckpointHook``
  (``safe_checkpoint``: atomic checkpoints, checked resuming), ``SeededSampler`` (``sampling``: per-sample
  seeds, bad samples named or skipped), ``ExactResumeHook`` and ``NonFiniteLossHook`` (``hooks``);
- ``PlainCheckpointHook`` and ``DatasetCheckHook`` (``hooks``), listed in the published configs;
- ``DeviceAwareOptimWrapperConstructor`` (``optim``): the published AMP recipes run without CUDA;
- ``CPUDistributedDataParallel`` (``distributed``) for launched CPU runs.
"""
from mmengine.logging import print_log
from mmengine.registry import MODELS

from mambavision_backbone import route_logs_to

from .backbone import MambaVision
from .checkpoint import load_local_checkpoint
from .dataset_checks import DatasetError, check_dataset
from .distributed import CPUDistributedDataParallel
from .hooks import DatasetCheckHook, ExactResumeHook, NonFiniteLossHook, PlainCheckpointHook
from .optim import DeviceAwareOptimWrapperConstructor
from .safe_checkpoint import CheckpointError, SafeCheckpointHook
from .sampling import BadSampleError, SeededSampler

__all__ = ['MambaVision', 'load_local_checkpoint', 'DatasetError', 'check_dataset', 'CPUDistributedDataParallel',
           'DatasetCheckHook', 'ExactResumeHook', 'NonFiniteLossHook', 'PlainCheckpointHook',
           'DeviceAwareOptimWrapperConstructor', 'CheckpointError', 'SafeCheckpointHook', 'BadSampleError',
           'SeededSampler']

MODELS.register_module('MambaVision', module=MambaVision, force=True)
MODELS.register_module('MM_mamba_vision', module=MambaVision, force=True)
route_logs_to(lambda message, level: print_log(message, logger='current', level=level))
