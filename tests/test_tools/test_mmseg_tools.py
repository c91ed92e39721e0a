"""Segmentation end to end on generated ADE20K-layout data (CPU): our tools, mmseg's own packaged tools and
MMSegInferencer."""
import json
import os
import re

import cv2
import pytest
import torch

from mambavision_mm.testing import generate_ade20k

from ..helpers.checkpoints import write_imagenet_config
from ..helpers.paths import ROOT, TOY_SEG, packaged_tool
from ..helpers.processes import run_tool

TRAIN_ARGS = ['--cfg-options', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
              'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1', 'randomness.seed=0']


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """Two training images, three iterations with our tools/train.py from a published-style ImageNet file:
    the working folder and the log."""
    cwd = tmp_path_factory.mktemp('seg')
    generate_ade20k(str(cwd / 'data/toy_ade'), train=2, val=2)
    write_imagenet_config(cwd, TOY_SEG)
    log = run_tool([os.path.join(ROOT, 'tools/train.py'), 'toy_imagenet.py', '--work-dir', 'work', *TRAIN_ARGS], cwd)
    return cwd, log


def test_train_through_our_tools(toy_run):
    cwd, log = toy_run
    assert 'Iter(train) [3/3]' in log and 'mIoU:' in log
    assert log.count('no CUDA device: automatic mixed precision is switched off') == 1
    assert 'loaded 245/253 backbone tensors from imagenet.pth.tar' in log
    assert re.search(r'\(VERY_HIGH *\) DatasetCheckHook', log)  # in the runner's table of hooks
    torch.load(cwd / 'work/iter_3.pth', weights_only=True)


def test_packaged_test_and_ours_print_the_same_metrics(toy_run):
    # Training through mmseg's own train.py is tested with a killed and resumed run (test_crash_safe_training).
    cwd, _ = toy_run
    theirs = run_tool([packaged_tool('mmseg', 'test.py'), TOY_SEG, 'work/iter_3.pth', '--work-dir', 'test_packaged',
                       '--out', 'labels_theirs'], cwd)
    ours = run_tool([os.path.join(ROOT, 'tools/test.py'), TOY_SEG, 'work/iter_3.pth', '--work-dir', 'test_ours',
                     '--show-dir', 'painted', '--out', 'labels_ours'], cwd)
    # --out means what it means to mmseg: a folder of predicted label maps
    names = sorted(os.listdir(cwd / 'labels_theirs'))
    assert len(names) == 2 and names == sorted(os.listdir(cwd / 'labels_ours'))
    for name in names:
        assert (cwd / 'labels_theirs' / name).read_bytes() == (cwd / 'labels_ours' / name).read_bytes()
    metrics = [[line.split('Iter(test) [2/2]')[1].split('data_time')[0] for line in out.splitlines()
                if 'Iter(test) [2/2]' in line][0] for out in (theirs, ours)]
    assert 'aAcc:' in metrics[0] and 'mIoU:' in metrics[0] and 'mAcc:' in metrics[0]
    assert metrics[0] == metrics[1]
    assert 'per class results' in ours and re.search(r'\| +background +\|', ours)
    painted = [f for _, _, files in os.walk(cwd / 'painted') for f in files if f.endswith('.png')]
    assert len(painted) == 2


def test_mmseg_inferencer_with_only_the_config_importing_the_plugin(toy_run):
    cwd, _ = toy_run
    code = ('from mmseg.apis import MMSegInferencer; '
            f"inferencer = MMSegInferencer(model={TOY_SEG!r}, weights='work/iter_3.pth', device='cpu'); "
            "result = inferencer('data/toy_ade/images/validation/toy_validation_000000.jpg'); "
            "print('shape', result['predictions'].shape)")
    out = run_tool(['-c', code], cwd)
    image = cv2.imread(str(cwd / 'data/toy_ade/images/validation/toy_validation_000000.jpg'))
    assert f'shape {image.shape[:2]}' in out


def test_infer_tool_paints_the_classes_with_a_legend(toy_run):
    cwd, _ = toy_run
    out = run_tool([os.path.join(ROOT, 'tools/infer.py'), TOY_SEG, 'work/iter_3.pth', 'data/toy_ade/images/validation',
                    '--out-dir', 'inferred'], cwd)
    assert 'wrote 2 painted images' in out
    image = cv2.imread(str(cwd / 'data/toy_ade/images/validation/toy_validation_000000.jpg'))
    painted = cv2.imread(str(cwd / 'inferred/vis/toy_validation_000000.jpg'))
    record = json.loads((cwd / 'inferred/preds/toy_validation_000000.json').read_text())
    assert painted.shape[1] == image.shape[1] and painted.shape[0] > image.shape[0]  # the legend below
    assert (record['height'], record['width']) == image.shape[:2]
    assert set(record['class_fractions']) <= {'background', 'rectangle', 'ellipse', 'triangle'}
    assert sum(record['class_fractions'].values()) == pytest.approx(1.0)


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_sliding_window_testing(toy_run):
    cwd, _ = toy_run
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), TOY_SEG, 'work/iter_3.pth', '--work-dir', 'slide',
                    '--cfg-options', 'model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(128,128)',
                    'model.test_cfg.stride=(85,85)'], cwd)
    assert 'mIoU:' in out
