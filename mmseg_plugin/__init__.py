"""MMSegmentation plugin: MambaVision, the toolbox's runtime components and ``CheckSegLabels``.

Use it from any config with ``custom_imports = dict(imports=['mmseg_plugin'], allow_failed_imports=False)``
and ``backbone=dict(type='MambaVision', arch='tiny', ...)``. The shared components live in
``mambavision_mm`` (mmengine's root registries, which the mmseg scope searches too).
"""
import mambavision_mm  # noqa: F401

from .transforms import CheckSegLabels

__all__ = ['CheckSegLabels']
