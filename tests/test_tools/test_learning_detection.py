"""Slow learning check (make test-slow): a detector overfitting a few generated images must clearly beat chance
(a file of its own, so that it runs beside the segmentor's in the other test worker)."""
import pytest

from mambavision_mm.testing import generate_coco

from ..helpers.paths import TOY_DET
from ..helpers.training import train_and_read


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
