"""Runtime components configs name: hooks, the optimizer-wrapper constructor, checkpoint loading, CPU DDP."""
from .checkpoint import load_local_checkpoint
from .distributed import CPUDistributedDataParallel
from .hooks import (
    CheckpointError,
    DatasetCheckHook,
    ExactResumeHook,
    NonFiniteLossHook,
    PartialLoadHook,
    PlainCheckpointHook,
    PreemptionHook,
    SafeCheckpointHook,
)
from .optimizers import DeviceAwareOptimWrapperConstructor

__all__ = ['load_local_checkpoint', 'CPUDistributedDataParallel', 'CheckpointError', 'DatasetCheckHook',
           'ExactResumeHook', 'NonFiniteLossHook', 'PartialLoadHook', 'PlainCheckpointHook', 'PreemptionHook',
           'SafeCheckpointHook',
           'DeviceAwareOptimWrapperConstructor']
