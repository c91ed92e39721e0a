"""What several test modules share: running the command-line tools (ours and mmdet's/mmseg's packaged ones),
reading checkpoints, writing checkpoints in the published layouts, scan inputs, the model zoo and the micro
training configs."""
import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
import yaml
from mmengine.logging import HistoryBuffer

from mambavision_backbone import selective_scan
from mambavision_backbone.scan import scan_with_gradients

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
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


def run(command, cwd=ROOT, env=None, ok=True, timeout=900, status=None):
    """Run ``command`` in ``cwd``; returns stdout+stderr, asserting the exit status is 0 (``ok``), not 0, or
    ``status``."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, 'PYTHONUNBUFFERED': '1', **(env or {})})
    output = result.stdout + result.stderr
    if status is None:
        assert (result.returncode == 0) == ok, output[-4000:]
    else:
        assert result.returncode == status, f'exit status {result.returncode}: {output[-4000:]}'
    return output


def run_tool(args, cwd=ROOT, **kwargs):
    """Run ``python ARGS`` with this interpreter (see :func:`run`)."""
    return run([sys.executable, *args], cwd, **kwargs)


def checkpoint_weights(path) -> dict:
    """The ``state_dict`` of a checkpoint written by training (plain data: ``weights_only=True``)."""
    return torch.load(path, weights_only=True)['state_dict']


def load_in_fresh_process(path) -> str:
    """Load ``path`` with ``torch.load(weights_only=True)`` in a Python process that imports nothing of ours."""
    code = ('import sys, torch; checkpoint = torch.load(sys.argv[1], weights_only=True); '
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('mambavision_mm', 'mmdet_plugin', 'mmseg_plugin', 'mambavision_backbone', 'mmengine')]; "
            "print(sorted(checkpoint))")
    return run_tool(['-c', code, str(path)], cwd=ROOT)


def child_pids(pid: int) -> list:
    """The processes ``pid`` started (Linux /proc): a torchrun agent's workers, a trainer's data-loader workers."""
    children = []
    for task in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{task}/children') as f:
            children += [int(child) for child in f.read().split()]
    return children


def kill_when_logged(args, cwd, text, timeout=300) -> str:
    """Run ``python ARGS`` in ``cwd`` in its own process group and SIGKILL the group (workers included) as
    soon as its output shows ``text``; returns the output, asserting that the kill, not the run, ended it."""
    log_path = os.path.join(cwd, f'killed_{os.getpid()}_{time.monotonic_ns()}.log')
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    deadline, seen = time.monotonic() + timeout, False
    while process.poll() is None:
        with open(log_path) as f:
            seen = text in f.read()
        if seen or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    returncode = process.wait()
    with open(log_path) as f:
        output = f.read()
    assert seen and returncode == -signal.SIGKILL, f'not killed (exit status {returncode}):\n{output[-4000:]}'
    return output


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


def run_scan(inputs, backend, softplus=True, grads=False):
    """(y, None), or with ``grads`` (y, the gradient of every input) for a fixed random gradient of y
    (:func:`scan_grad_output`)."""
    if not grads:
        return selective_scan(**inputs, delta_softplus=softplus, backend=backend).detach(), None
    return scan_with_gradients(inputs, scan_grad_output(inputs), backend=backend, delta_softplus=softplus)


def scan_grad_output(inputs):
    """The gradient of y that :func:`run_scan` back-propagates: random, fixed, in u's dtype."""
    u = inputs['u']
    return torch.randn(u.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(u.dtype)


def zoo_models():
    index = yaml.safe_load(open(os.path.join(ROOT, 'model-index.yml')))
    entries = []
    for metafile in index['Import']:
        entries += yaml.safe_load(open(os.path.join(ROOT, metafile)))['Models']
    return entries


def max_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def workers(n):
    return ['--cfg-options', f'train_dataloader.num_workers={n}', f'train_dataloader.persistent_workers={n > 0}']


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


def runner_of(config, work_dir, options):
    """The runner that tools/train.py builds for ``config`` with ``options`` (its --cfg-options) in ``work_dir``."""
    from mambavision_mm.apis.launcher import build_runner, load_config
    return build_runner(load_config(config, options, work_dir=str(work_dir)))


def toy_dataset(root, split='training', **kwargs):
    """mmseg's BaseSegDataset over a generated ADE20K-layout folder."""
    from mmseg.datasets import BaseSegDataset
    return BaseSegDataset(data_root=root, img_suffix='.jpg', seg_map_suffix='.png',
                          metainfo=dict(classes=('background', 'rectangle', 'ellipse', 'triangle')),
                          data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
                          **kwargs)
