"""Runtime components configs name: the runner, hooks, the optimizer-wrapper constructor, checkpoint loading,
CPU DDP."""
from .checkpoint import load_local_checkpoint
from .distributed import CPUDistributedDataParallel
from .errors import CheckpointError, CheckpointWriteError
from .hooks import (
    DatasetCheckHook,
    ExactResumeHook,
    NonFiniteLossHook,
    PartialLoadHook,
    PlainCheckpointHook,
    PreemptionHook,
    SafeCheckpointHook,
)
from .optimizers import DeviceAwareOptimWrapperConstructor, MambaVisionLayerDecayOptimizerConstructor
from .runner import CrashSafeRunner

__all__ = ['load_local_checkpoint', 'CPUDistributedDataParallel', 'CheckpointError', 'CheckpointWriteError',
           'DatasetCheckHook', 'ExactResumeHook', 'NonFiniteLossHook', 'PartialLoadHook', 'PlainCheckpointHook',
           'PreemptionHook', 'SafeCheckpointHook', 'DeviceAwareOptimWrapperConstructor',
           'MambaVisionLayerDecayOptimizerConstructor', 'CrashSafeRunner']
