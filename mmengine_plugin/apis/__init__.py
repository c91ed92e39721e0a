"""What the tools call and users may call from their own scripts: inference on image files, and building
the runner as tools/train.py and tools/test.py do. Not imported by ``import mmengine_plugin``."""
from .inference import InputError, build_inferencer, run_inference

__all__ = ['InputError', 'build_inferencer', 'run_inference']
