"""CheckSegLabels: labels outside the classes name the file."""
import os

import cv2
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mambavision_mm.testing import generate_ade20k

from ..helpers.paths import TOY_SEG
from ..helpers.training import toy_dataset


@pytest.mark.parametrize('values, allowed', [((4, 200), False), ((3, 255), True)])
def test_out_of_range_labels_name_the_file(tmp_path, values, allowed):
    """4 classes: 0..3 and the ignored 255 are labels; 4, the first value past the classes, is not."""
    root = generate_ade20k(str(tmp_path / 'ade'), train=1, val=1)
    bad = os.path.join(root, 'annotations/training/toy_training_000000.png')
    label = cv2.imread(bad, cv2.IMREAD_GRAYSCALE)
    label[:5, :5], label[-5:, -5:] = values
    cv2.imwrite(bad, label)
    init_default_scope('mmseg')
    pipeline = Config.fromfile(TOY_SEG).train_pipeline
    assert pipeline[2] == dict(type='CheckSegLabels', num_classes=4)
    if allowed:
        assert toy_dataset(root, pipeline=pipeline[:3])[0]['gt_seg_map'].max() == 255  # up to CheckSegLabels
        return
    with pytest.raises(ValueError, match=r'toy_training_000000.png: label values \[4, 200\] are outside 0..3'):
        toy_dataset(root, pipeline=pipeline)[0]
