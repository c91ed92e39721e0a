"""Dataset checks: missing files, unknown categories and class counts named before training."""
import os

import pytest

from mambavision_mm import DatasetError, check_dataset
from mambavision_mm.testing import generate_ade20k, generate_coco

from ...helpers.paths import MICRO_SEG, TOY_DET, packaged_tool
from ...helpers.processes import run_tool
from ...helpers.training import runner_of, toy_dataset


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
    runner = runner_of(MICRO_SEG, tmp_path, {'model.decode_head.num_classes': 5})
    with pytest.raises(DatasetError) as raised:
        runner.train()
    assert str(raised.value) == ("model.decode_head.num_classes=5 but the training data set has 4 classes "
                                 "('background', 'rectangle', 'ellipse', 'triangle'): set num_classes=4")
    assert runner.iter == 0


SHAPES = ('rectangle', 'ellipse', 'triangle')


def coco_dataset(root, classes=SHAPES, with_mask=False, ann='annotations/instances_train2017.json', **kwargs):
    from mmdet.datasets import CocoDataset
    pipeline = [dict(type='mmdet.LoadImageFromFile'),
                dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=with_mask)]
    return CocoDataset(data_root=root, ann_file=ann, data_prefix=dict(img='train2017/'), metainfo=dict(classes=classes),
                       pipeline=pipeline, **kwargs)


def edit_json(root, edit, ann='annotations/instances_train2017.json'):
    import json
    path = os.path.join(root, ann)
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, 'w') as f:
        json.dump(data, f)


@pytest.fixture
def coco_root(tmp_path):
    root = generate_coco(str(tmp_path / 'coco'), train=3, val=1, size=(96, 64))
    check_dataset(coco_dataset(root, with_mask=True))  # the generated data passes every check
    return root


def test_a_class_missing_from_the_json_is_named(coco_root):
    with pytest.raises(DatasetError, match=r"instances_train2017.json has no category 'hexagon' of the configured "
                                           r"classes; its categories are \('rectangle', 'ellipse', 'triangle'\)"):
        check_dataset(coco_dataset(coco_root, classes=('rectangle', 'hexagon', 'triangle')))


@pytest.mark.parametrize('categories_at', ['end', 'start'])
def test_classes_in_another_order_than_the_json_are_refused(coco_root, categories_at):
    """mmdet would number the labels in the file's order: 'triangle' would be painted as 'rectangle'. The names
    are read from the file's end where COCO files keep them; a file that has them first is parsed whole."""
    if categories_at == 'start':
        edit_json(coco_root, lambda data: data.update({key: data.pop(key) for key in ('images', 'annotations')}))
        with open(os.path.join(coco_root, 'annotations/instances_train2017.json')) as f:
            assert f.read(20).startswith('{"categories"')
    with pytest.raises(DatasetError, match=r"classes \('triangle', 'ellipse', 'rectangle'\) are not in the order of "
                                           r"the file's categories .* set classes=\('rectangle', 'ellipse', "
                                           r"'triangle'\)"):
        check_dataset(coco_dataset(coco_root, classes=('triangle', 'ellipse', 'rectangle')))


def test_an_empty_split_is_named_when_it_is_built(coco_root):
    """mmengine would fail serialising no sample ("need at least one array to concatenate")."""
    edit_json(coco_root, lambda data: data.update(annotations=[]))
    with pytest.raises(DatasetError, match=r'CocoDataset \(.*instances_train2017.json\) has no sample: mmdet leaves '
                                           r'out the images without annotations'):
        coco_dataset(coco_root, filter_cfg=dict(filter_empty_gt=True))
    with pytest.raises(DatasetError, match=r'has no sample: .*; check its annotation file and image folder'):
        check_dataset(coco_dataset(coco_root, filter_cfg=dict(filter_empty_gt=True), serialize_data=False))


@pytest.mark.parametrize('box, ok', [([90.5, 10, 6.5, 5], True), ([90, 10, 8, 5], False), ([-2, 10, 5, 5], False),
                                     ([10, 60, 5, 6], False)])
def test_boxes_outside_their_image_are_named(coco_root, box, ok):
    """Images of 96x64: a box may end one pixel past the border (rounding), not more."""
    def move_first_box(data):
        data['annotations'][0]['bbox'] = box
    edit_json(coco_root, move_first_box)
    if ok:
        check_dataset(coco_dataset(coco_root))
        return
    with pytest.raises(DatasetError, match=r'1 boxes of CocoDataset .* lie outside their image, e.g. \[.*\] '
                                           r'\(x1, y1, x2, y2\) in .*train2017/.*jpg of 96x64'):
        check_dataset(coco_dataset(coco_root))


def test_boxes_only_data_given_to_a_mask_pipeline_is_refused(coco_root):
    edit_json(coco_root, lambda data: [a.pop('segmentation') for a in data['annotations']])
    check_dataset(coco_dataset(coco_root))  # a boxes-only pipeline is fine
    boxes = len(coco_dataset(coco_root).get_data_info(0)['instances'])
    with pytest.raises(DatasetError, match=r'(\d+) of \1 boxes of CocoDataset .* have no segmentation, but the '
                                           r'pipeline loads masks .* set with_masks = False in '
                                           r'configs/mmdet/custom/cascade-mask-rcnn_mambavision-t_fpn_custom.py'):
        check_dataset(coco_dataset(coco_root, with_mask=True))
    assert boxes > 0
