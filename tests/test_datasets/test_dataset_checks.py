"""Dataset checks: missing files, unknown categories and class counts named before training."""
import os

import pytest

from mmengine_plugin import DatasetError, check_dataset
from mmengine_plugin.testing import generate_ade20k, generate_coco

from ..helpers import MICRO_SEG, TOY_DET, build_runner, packaged_tool, run_tool, toy_dataset


def test_missing_annotation_is_reported(tmp_path):
    root = generate_ade20k(str(tmp_path / 'ade'), train=2, val=1)
    check_dataset(toy_dataset(root))
    os.remove(os.path.join(root, 'annotations/training/toy_training_000001.png'))
    with pytest.raises(DatasetError, match=r'1 of 2 images of BaseSegDataset .* have no annotation, e.g. '
                                           r'.*toy_training_000001.jpg \(expected .*toy_training_000001.png\)'):
        check_dataset(toy_dataset(root))


def test_annotations_of_unknown_categories_are_named(tmp_path):
    from mmdet.datasets import CocoDataset

    root = generate_coco(str(tmp_path / 'coco'), train=4, val=1)
    dataset = CocoDataset(data_root=root, ann_file='annotations/instances_train2017.json',
                          data_prefix=dict(img='train2017/'), metainfo=dict(classes=('rectangle',)), pipeline=[])
    with pytest.raises(DatasetError, match=r"instances_train2017.json has annotations of categories \[.*'triangle'\] "
                                           r"that are not in the dataset's metainfo classes \('rectangle',\)"):
        check_dataset(dataset)
    check_dataset(CocoDataset(data_root=root, ann_file='annotations/instances_train2017.json',
                              data_prefix=dict(img='train2017/'), pipeline=[],
                              metainfo=dict(classes=('rectangle', 'ellipse', 'triangle'))))


def test_missing_image_stops_packaged_training_naming_the_file(tmp_path):
    generate_coco(str(tmp_path / 'data/toy_coco'), train=2, val=1)
    os.remove(tmp_path / 'data/toy_coco/train2017/000001.jpg')
    out = run_tool([packaged_tool('mmdet', 'train.py'), TOY_DET, '--work-dir', 'w'], tmp_path, ok=False)
    assert 'DatasetError: 1 of 2 images of CocoDataset' in out
    assert 'e.g. data/toy_coco/train2017/000001.jpg' in out
    assert 'Epoch(train)' not in out


def test_num_classes_that_disagree_with_the_data_stop_before_any_image_is_read(micro_data, monkeypatch, tmp_path):
    monkeypatch.chdir(micro_data)
    runner = build_runner(MICRO_SEG, tmp_path, {'model.decode_head.num_classes': 5})
    with pytest.raises(DatasetError) as raised:
        runner.train()
    assert str(raised.value) == ("model.decode_head.num_classes=5 but the training data set has 4 classes "
                                 "('background', 'rectangle', 'ellipse', 'triangle'): set num_classes=4")
    assert runner.iter == 0
