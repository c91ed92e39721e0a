"""What the tools call and users may call from their own scripts: configs and models read as the tools read
them, inference on image files, and building the runner as tools/train.py and tools/test.py do. Not imported
by ``import mambavision_mm``."""
from .inference import build_inferencer, run_inference
from .inputs import InputError
from .models import build_model, load_checkpoint, read_config

__all__ = ['InputError', 'build_inferencer', 'build_model', 'load_checkpoint', 'read_config', 'run_inference']
