"""Generated data for the demo and the tests. Not imported by ``import mmengine_plugin``."""
from .toy_data import generate_ade20k, generate_coco

__all__ = ['generate_ade20k', 'generate_coco']
