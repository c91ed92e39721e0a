"""Slow learning checks (make test-all): overfitting a few generated images must clearly beat chance."""
import os
import re

import pytest

from mambavision_mm.testing import generate_ade20k, generate_coco

from ..helpers.paths import ROOT, TOY_DET, TOY_SEG
from ..helpers.processes import run_tool


def train_and_read(args, cwd, pattern):
    output = run_tool([os.path.join(ROOT, 'tools/train.py'), *args], cwd, timeout=3000)
    value = float(re.findall(pattern, output)[-1])
    print(f'{pattern}: {value}')
    return value


@pytest.mark.slow
def test_detector_overfits_four_images(tmp_path):
    generate_coco(str(tmp_path / 'data/toy_coco'), train=4, val=1)
    epochs = 40
    bbox_map = train_and_read(
        [TOY_DET, '--work-dir', 'work', '--cfg-options', f'train_cfg.max_epochs={epochs}',
         f'train_cfg.val_interval={epochs}', 'optim_wrapper.optimizer.lr=0.0004',
         'val_dataloader.dataset.ann_file=annotations/instances_train2017.json',
         'val_dataloader.dataset.data_prefix.img=train2017/',
         'val_evaluator.ann_file=data/toy_coco/annotations/instances_train2017.json'],
        tmp_path, r'coco/bbox_mAP: ([0-9.]+)')
    assert bbox_map > 0.3  # a detector that has learned nothing scores about 0


@pytest.mark.slow
def test_segmentor_overfits_four_images(tmp_path):
    generate_ade20k(str(tmp_path / 'data/toy_ade'), train=4, val=1)
    iters = 80
    miou = train_and_read(
        [TOY_SEG, '--work-dir', 'work', '--cfg-options', f'train_cfg.max_iters={iters}',
         f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters}',
         f'param_scheduler.1.end={iters}', 'val_dataloader.dataset.data_prefix.img_path=images/training',
         'val_dataloader.dataset.data_prefix.seg_map_path=annotations/training'],
        tmp_path, r'mIoU: ([0-9.]+)')
    assert miou > 60.0  # four classes: a constant prediction scores at most about 25
