"""MambaVision backbone for dense prediction, in plain PyTorch."""
__version__ = '0.1.0'  # the distribution's version (pyproject.toml reads it)

from .checkpoint import backbone_state_dict, load_pretrained, read_state_dict
from .errors import CheckpointReadError, DownloadError, UnsafeCheckpointError
from .hub import download_checkpoint
from .logs import route_logs_to
from .model import MambaVision, attention_block_indices
from .scan import mamba_ssm_available, resolve_backend, selective_scan
from .variants import ARCH_ALIASES, ARCH_SETTINGS

__all__ = ['__version__', 'MambaVision', 'ARCH_SETTINGS', 'ARCH_ALIASES', 'attention_block_indices', 'selective_scan',
           'resolve_backend', 'mamba_ssm_available', 'load_pretrained', 'read_state_dict',
           'backbone_state_dict', 'route_logs_to', 'CheckpointReadError', 'DownloadError', 'UnsafeCheckpointError',
           'download_checkpoint']
