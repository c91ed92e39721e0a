"""MMDetection plugin: MambaVision and the toolbox's runtime components for mmdet configs.

Use it from any config with ``custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)``
and ``backbone=dict(type='MambaVision', arch='tiny', ...)``. Everything it registers lives in
``mambavision_mm`` (mmengine's root registries, which the mmdet scope searches too).
"""
import mmdet.registry  # noqa: F401  (fails here, naming mmdet, where mmdet is not installed)

import mambavision_mm  # noqa: F401
