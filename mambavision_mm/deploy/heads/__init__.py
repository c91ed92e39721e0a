"""The detector heads of the whole-detector export, one module per head, each registered by the mmdet class it
exports (:mod:`.registry`)."""
from . import anchor_head, roi_head  # noqa: F401  (each registers its export)
from .registry import head_export, supported_heads

__all__ = ['head_export', 'supported_heads']
