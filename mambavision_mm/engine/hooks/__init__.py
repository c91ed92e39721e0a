from .dataset_check_hook import DatasetCheckHook
from .exact_resume_hook import ExactResumeHook
from .non_finite_loss_hook import NonFiniteLossHook
from .partial_load_hook import PartialLoadHook
from .plain_checkpoint_hook import PlainCheckpointHook
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['DatasetCheckHook', 'ExactResumeHook', 'NonFiniteLossHook', 'PartialLoadHook', 'PlainCheckpointHook',
           'PreemptionHook', 'PREEMPTED_EXIT_CODE', 'SafeCheckpointHook']
