"""Slow learning check (make test-slow): a segmentor overfitting a few generated images must clearly beat chance
(a file of its own, so that it runs beside the detector's in the other test worker)."""
import pytest

from mambavision_mm.testing import generate_ade20k

from ..helpers.paths import TOY_SEG
from ..helpers.training import train_and_read


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
