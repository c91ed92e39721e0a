"""Where the repository, its tools, the toy and micro configs and the model zoo are."""
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.path.join(ROOT, 'tests', 'data')
TRAIN = os.path.join(ROOT, 'tools/train.py')
TOY_DET = os.path.join(ROOT, 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py')
TOY_SEG = os.path.join(ROOT, 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py')


# Few-second CPU training runs for the crash-safe training and sampler tests: 3 epochs of 3 iterations, and
# 12 iterations saved every 4.
MICRO_DET = os.path.join(DATA, 'configs/cascade-mask-rcnn_mambavision-micro_toy-shapes.py')
MICRO_SEG = os.path.join(DATA, 'configs/upernet_mambavision-micro_toy-shapes-128x128.py')


def packaged_tool(package: str, name: str) -> str:
    """The path of a tool that mmdet or mmseg installs with itself (what ``mim train/test`` runs)."""
    module = __import__(package)
    return os.path.join(os.path.dirname(module.__file__), '.mim', 'tools', name)


def zoo_models():
    index = yaml.safe_load(open(os.path.join(ROOT, 'model-index.yml')))
    entries = []
    for metafile in index['Import']:
        entries += yaml.safe_load(open(os.path.join(ROOT, metafile)))['Models']
    return entries
