"""What the MambaVision plugins add to OpenMMLab, written once for mmdet and mmseg.

Importing this package (``mmdet_plugin`` and ``mmseg_plugin`` do) registers what configs name, in mmengine's
root registries, where the mmdet and mmseg scopes find them, and nothing else:

- ``models``: the MambaVision backbone (``MambaVision``, and ``MM_mamba_vision``, the published name), its
  config arguments checked by name;
- ``engine``: crash-safe training hooks (``SafeCheckpointHook``, ``ExactResumeHook``, ``NonFiniteLossHook``,
  ``PreemptionHook``; docs/crash_safe_training.md), ``PlainCheckpointHook``, ``DatasetCheckHook`` and
  ``PartialLoadHook`` (fine-tuning from weights that fit in part),
  ``DeviceAwareOptimWrapperConstructor`` (the published AMP recipes run without CUDA),
  ``CPUDistributedDataParallel``, and mmengine's loader for local checkpoint files replaced by one that loads
  them safely on torch >= 2.6;
- ``datasets``: ``SeededSampler`` (per-sample seeds; bad samples named or skipped) and the dataset checks;
- ``ops``: where mmcv has no compiled extension (mmcv-lite), mmcv's RoIAlign and NMS run in PyTorch.

Importing it changes three things of other packages: mmengine's checkpoint loaders for local paths and for
http(s) URLs (``CheckpointLoader.register_scheme``, in ``engine/checkpoint.py``: safe loading), a finder appended
to ``sys.meta_path``, after Python's own, that serves ``mmcv._ext`` where mmcv has no compiled extension
(``ops/ext_finder.py``), and mmengine's ``BaseDataset._serialize_data``, wrapped to refuse an empty dataset by
name (``engine/mmengine_internals.py`` lists that and every other use of an mmengine private).

``apis`` (inference, the tools' runner set-up), ``deploy`` (ONNX), ``analysis`` (FLOPs, benchmarks) and
``testing`` (generated data) are imported only by what uses them.
"""
from mmengine.logging import print_log

from mambavision_backbone import route_logs_to

from . import engine
from .datasets import BadSampleError, DatasetError, SeededSampler, check_dataset
from .engine import *  # noqa: F401,F403 (the runtime components: engine.__all__)
from .models import MambaVision
from .ops import compiled_mmcv_ops

__all__ = ['MambaVision', 'DatasetError', 'check_dataset', 'BadSampleError', 'SeededSampler', 'compiled_mmcv_ops',
           *engine.__all__]

route_logs_to(lambda message, level: print_log(message, logger='current', level=level))
