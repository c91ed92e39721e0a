from .dataset_check_hook import DatasetCheckHook
from .exact_resume_hook import ExactResumeHook
from .non_finite_loss_hook import NonFiniteLossHook
from .plain_checkpoint_hook import PlainCheckpointHook
from .safe_checkpoint_hook import CheckpointError, SafeCheckpointHook

__all__ = ['DatasetCheckHook', 'ExactResumeHook', 'NonFiniteLossHook', 'PlainCheckpointHook', 'CheckpointError',
           'SafeCheckpointHook']
