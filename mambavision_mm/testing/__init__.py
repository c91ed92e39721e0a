"""Generated data, random batches and a local checkpoint server for the demo and the tests (not imported by
``import mambavision_mm``)."""
from .batches import synthetic_batch
from .checkpoint_server import CheckpointServer
from .toy_data import generate_ade20k, generate_coco, generate_coco_annotations

__all__ = ['CheckpointServer', 'generate_ade20k', 'generate_coco', 'generate_coco_annotations',
           'synthetic_batch']
