"""Backbone weights and checkpoints written in the published layouts, and reading them back."""
import argparse
import os

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .paths import DATA


def checkpoint_weights(path) -> dict:
    """The ``state_dict`` of a checkpoint written by training (plain data: ``weights_only=True``)."""
    return torch.load(path, weights_only=True)['state_dict']


# A small model with every feature switched on: layer scale in all stages, odd depths, attention blocks
# in stages 3 and 4, windows smaller than, equal to and larger than the maps they see.
SMALL = dict(arch=None, dim=16, in_dim=8, depths=(2, 1, 3, 2), num_heads=(2, 2, 2, 4), window_size=(8, 8, 3, 4),
             layer_scale=0.5, layer_scale_conv=0.7, drop_path_rate=0.0)


def randomize(model, seed=0):
    """Random weights and BatchNorm statistics, so no parameter can hide behind its initial value."""
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        values = torch.randn(tensor.shape, generator=g, dtype=torch.float64) * 0.3
        if name.endswith('running_var'):
            values = values.abs() + 0.5
        elif name.endswith(('norm1.weight', 'norm2.weight', 'gamma', 'gamma_1', 'gamma_2')) or 'outnorm' in name \
                or name.endswith(('conv_down.1.weight', 'conv_down.4.weight')):
            values = values + 1.0
        tensor.copy_(values)
    return model


def read_listing(variant):
    """Names and shapes of the published T or B backbone, as strings
    (tests/data/state_dict_mambavision_{t,b}_backbone.txt)."""
    entries = {}
    path = os.path.join(DATA, f'state_dict_mambavision_{variant}_backbone.txt')
    for line in open(path):
        if line.strip() and not line.startswith('#'):
            name, shape = line.rstrip('\n').split('\t')
            entries[name] = shape
    return entries


def shapes(state_dict, prefix=''):
    """The names (without ``prefix``) and shapes of the tensors under ``prefix``, as in the listings."""
    return {k[len(prefix):]: str(tuple(v.shape)) for k, v in state_dict.items() if k.startswith(prefix)}


def classifier_extras(model):
    return {'head.weight': torch.randn(1000, 640), 'head.bias': torch.randn(1000),
            'norm.weight': torch.randn(640), 'norm.bias': torch.randn(640)}


def published_classification(model, path):
    state = {f'module.{k}': v for k, v in {**model.state_dict(), **classifier_extras(model)}.items()
             if not k.startswith('outnorm')}
    torch.save({'state_dict': state, 'epoch': 300, 'args': argparse.Namespace(lr=1e-3)}, path)


def write_imagenet_config(folder, base: str) -> None:
    """``folder/toy_imagenet.py``: ``base`` with its backbone initialised from ``folder/imagenet.pth.tar``, a
    published-style ImageNet file of a MambaVision-T written here."""
    from mambavision_backbone import MambaVision
    published_classification(MambaVision('tiny'), str(folder / 'imagenet.pth.tar'))
    (folder / 'toy_imagenet.py').write_text(
        f"_base_ = [{base!r}]\nmodel = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', "
        "checkpoint='imagenet.pth.tar')))\n")


def huggingface_bin(model, path):
    torch.save({f'model.{k}': v for k, v in {**model.state_dict(), **classifier_extras(model)}.items()}, path)


def huggingface_safetensors(model, path):
    from safetensors.torch import save_file
    state = {f'model.{k}': v.contiguous() for k, v in {**model.state_dict(), **classifier_extras(model)}.items()}
    save_file(state, path)


def mm_checkpoint(model, path):
    state = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    state.update({'neck.lateral_convs.0.conv.weight': torch.randn(256, 80, 1, 1),
                  'roi_head.bbox_head.0.fc_cls.weight': torch.randn(81, 1024)})
    torch.save({'meta': {'epoch': 36}, 'state_dict': state}, path)


def max_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def mmengine_checkpoint():
    """What mmengine 0.10.x writes besides the weights: its message hub with history buffers and numpy values."""
    return {'meta': {'epoch': 36, 'seed': np.int64(7)},
            'state_dict': {'backbone.outnorm0.weight': torch.ones(80)},
            'message_hub': {'log_scalars': {'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])},
                            'runtime_info': {'eta': np.float64(2.5), 'iters': np.arange(3)},
                            'resumed_keys': {'train/loss': True}}}


class RunsCommand:
    """Unpickles as ``os.system(command)``: what a crafted checkpoint does to whoever fully unpickles it."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def code_running_checkpoint(path, marker, state_dict=None) -> None:
    """A checkpoint at ``path`` whose full unpickling creates the file ``marker`` (its weights: ``state_dict``)."""
    torch.save({'state_dict': state_dict or {'backbone.outnorm0.weight': torch.ones(80)},
                'meta': {'note': RunsCommand(f'touch {marker}')}}, path)
