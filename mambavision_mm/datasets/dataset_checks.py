"""Checks of built datasets that fail early, naming the file, instead of deep inside a data-loader worker.

They read what mmengine datasets already hold (each sample's ``img_path`` / ``seg_map_path`` and instances,
a COCO dataset's category map), one sample at a time, so that a COCO-size training set costs a
file-existence test and one sample's copy at a time, and no second parse of the annotation file: the names
of its categories (which mmdet does not keep) are read from the file's tail, where COCO files keep them, and
the whole file is parsed only when they are not there, or to name the offending categories once a problem is
found.
"""
import json
import os
import os.path as osp
from typing import Iterator, List, Optional

from torch import nn


class DatasetError(ValueError):
    """A dataset that cannot be used as configured; the message names the file."""


def leaf_datasets(dataset) -> Iterator:
    """The datasets inside wrappers (ConcatDataset, RepeatDataset, ClassBalancedDataset, ...)."""
    inner = getattr(dataset, 'datasets', None) or [getattr(dataset, 'dataset', None)]
    inner = [d for d in inner if d is not None]
    if not inner:
        yield dataset
    for child in inner:
        yield from leaf_datasets(child)


def _describe(dataset) -> str:
    source = getattr(dataset, 'ann_file', '') or getattr(dataset, 'data_root', '') or ''
    return f'{type(dataset).__name__} ({source})' if source else type(dataset).__name__


def _each_sample(dataset) -> Iterator[dict]:
    """The dataset's samples one at a time (mmengine hands out a fresh copy of each)."""
    if not hasattr(dataset, 'get_data_info'):
        return
    dataset.full_init()  # a no-op once the dataset has loaded its annotations
    for index in range(len(dataset)):
        yield dataset.get_data_info(index)


class _Found:
    """How many samples or boxes showed one problem, and the first of them."""

    def __init__(self):
        self.count, self.first = 0, None

    def add(self, example) -> None:
        """Count one more problem, keeping the first as the example."""
        self.count += 1
        if self.first is None:
            self.first = example


def check_samples(dataset, tolerance: float = 1.0) -> None:
    """One pass over the samples: there is at least one; every image (and segmentation map) exists; every box
    lies inside its image (within ``tolerance`` pixels: a box outside is a labelling or export error that
    would train on the wrong pixels); and when the pipeline loads masks, every box has one (mmdet would fail
    on the first box without)."""
    loads_masks = _loads_masks(dataset)
    samples, instances = 0, 0
    missing, unlabelled, outside, without_mask = _Found(), _Found(), _Found(), _Found()
    for sample in _each_sample(dataset):
        samples += 1
        if sample.get('img_path') and not osp.isfile(sample['img_path']):
            missing.add(sample['img_path'])
        if sample.get('seg_map_path') and not osp.isfile(sample['seg_map_path']):
            unlabelled.add(sample)
        width, height = sample.get('width'), sample.get('height')
        for instance in sample.get('instances', ()):
            instances += 1
            if loads_masks and instance.get('mask') is None:
                without_mask.add(instance)
            if width is None or height is None:
                continue
            x1, y1, x2, y2 = instance.get('bbox', (0, 0, 0, 0))
            if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
                outside.add((sample['img_path'], width, height, [round(v, 1) for v in (x1, y1, x2, y2)]))
    if hasattr(dataset, 'get_data_info') and not samples:
        raise empty_dataset_error(dataset)
    if missing.count:
        raise DatasetError(f'{missing.count} of {samples} images of {_describe(dataset)} do not exist, '
                           f'e.g. {missing.first}')
    if unlabelled.count:
        first = unlabelled.first
        raise DatasetError(f"{unlabelled.count} of {samples} images of {_describe(dataset)} have no "
                           f"annotation, e.g. {first.get('img_path')} (expected {first['seg_map_path']})")
    check_coco_categories(dataset)
    if outside.count:
        path, width, height, box = outside.first
        raise DatasetError(f'{outside.count} boxes of {_describe(dataset)} lie outside their image, e.g. {box} '
                           f'(x1, y1, x2, y2) in {path} of {width}x{height}: check the width and height of the '
                           "file's images and the boxes' [x, y, w, h]")
    if without_mask.count:
        raise DatasetError(f'{without_mask.count} of {instances} boxes of {_describe(dataset)} have no '
                           'segmentation, but the pipeline loads masks (LoadAnnotations with_mask=True): for '
                           'boxes-only data set with_masks = False in '
                           'configs/mmdet/custom/cascade-mask-rcnn_mambavision-t_fpn_custom.py')


def check_coco_categories(dataset) -> None:
    """A COCO dataset has no annotation of a category outside its classes (mmdet drops those silently)."""
    cat_img_map, cat_ids = getattr(dataset, 'cat_img_map', None), getattr(dataset, 'cat_ids', None)
    if cat_img_map is None or cat_ids is None:
        return
    known = set(cat_ids)
    unknown = sorted(c for c, images in cat_img_map.items() if images and c not in known)
    if not unknown:
        return
    names = unknown
    try:
        with open(dataset.ann_file) as f:
            id_to_name = {c['id']: c['name'] for c in json.load(f)['categories']}
        names = [id_to_name.get(c, c) for c in unknown]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the ids alone still say what is wrong
    raise DatasetError(f"{dataset.ann_file} has annotations of categories {names} that are not in the dataset's "
                       f"metainfo classes {tuple(dataset.metainfo['classes'])}; mmdet would drop them silently")


# How much of an annotation file's end is searched for its categories before the whole file is parsed.
CATEGORIES_TAIL_BYTES = 1 << 20


def _categories_in_tail(ann_file) -> Optional[List[dict]]:
    """The ``categories`` list when the file ends with it (COCO's own files and most exports put it last)."""
    with open(ann_file, 'rb') as f:
        f.seek(max(os.path.getsize(ann_file) - CATEGORIES_TAIL_BYTES, 0))
        tail = f.read().decode('utf-8', errors='replace')
    start = tail.rfind('"categories"')
    if start < 0:
        return None
    try:
        value_start = tail.index('[', start)
        categories, end = json.JSONDecoder().raw_decode(tail, value_start)
    except ValueError:
        return None
    if tail[start + len('"categories"'):value_start].strip() != ':' or tail[end:].strip() not in ('}', ''):
        return None
    if not all(isinstance(c, dict) and 'id' in c and 'name' in c for c in categories):
        return None
    return categories


def _json_categories(ann_file) -> List[dict]:
    """The annotation file's categories, in its order (mmdet keeps none of the names)."""
    categories = _categories_in_tail(ann_file)
    if categories is not None:
        return categories
    with open(ann_file) as f:
        return json.load(f)['categories']


def empty_dataset_error(dataset) -> DatasetError:
    """The error of a dataset without any sample, with what to check."""
    dropped = getattr(dataset, 'filter_cfg', None) or {}
    why = (': mmdet leaves out the images without annotations (filter_cfg.filter_empty_gt), so check that the '
           'annotations use the image ids and category ids of the file') if dropped.get('filter_empty_gt') else ''
    return DatasetError(f'{_describe(dataset)} has no sample{why}; check its annotation file and image folder '
                        f"(data_root={getattr(dataset, 'data_root', None)!r}, "
                        f"data_prefix={getattr(dataset, 'data_prefix', None)!r})")


def check_coco_classes(dataset) -> None:
    """Every configured class is a category of the COCO file, in the file's order (mmdet numbers the labels in
    that order whatever the order of ``classes``, so another order would paint and report wrong names)."""
    cat_ids, ann_file = getattr(dataset, 'cat_ids', None), getattr(dataset, 'ann_file', None)
    if cat_ids is None or not ann_file:
        return
    classes = tuple(dataset.metainfo['classes'])
    if len(cat_ids) == len(classes):
        names = {c['id']: c['name'] for c in _json_categories(ann_file)}
        in_file_order = tuple(names[i] for i in cat_ids)
        if in_file_order != classes:
            raise DatasetError(f"{ann_file}: classes {classes} are not in the order of the file's categories "
                               f'(mmdet numbers the labels in that order): set classes={in_file_order}')
        return
    categories = [c['name'] for c in _json_categories(ann_file)]
    missing = [c for c in classes if c not in categories]
    raise DatasetError(f'{ann_file} has no category {missing[0]!r}' + (f' (nor {missing[1:]})' if missing[1:] else '')
                       + f' of the configured classes; its categories are {tuple(categories)}')


def _loads_masks(dataset) -> bool:
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    return any(getattr(t, 'with_mask', False) for t in transforms)


def class_heads(model) -> Iterator:
    """(config key, num_classes) of the detector's or segmentor's heads that classify the dataset's classes."""
    for owner, prefix in ((model, 'model'), (getattr(model, 'roi_head', None), 'model.roi_head')):
        for name in ('bbox_head', 'mask_head', 'decode_head', 'auxiliary_head'):
            head = getattr(owner, name, None)
            if head is None:
                continue
            heads = list(head) if isinstance(head, (list, tuple, nn.ModuleList)) else [head]
            for i, each in enumerate(heads):
                if hasattr(each, 'num_classes'):
                    yield f'{prefix}.{name}' + (f'[{i}]' if len(heads) > 1 else ''), each.num_classes


def check_num_classes(model, dataset) -> None:
    """Every classifying head has as many classes as the training data set (its metainfo ``classes``)."""
    classes = next((d.metainfo['classes'] for d in leaf_datasets(dataset)
                    if 'classes' in getattr(d, 'metainfo', {})), None)
    if classes is None:
        return
    wrong = [f'{key}.num_classes={n}' for key, n in class_heads(model) if n != len(classes)]
    if wrong:
        raise DatasetError(f'{", ".join(wrong)} but the training data set has {len(classes)} classes '
                           f'{tuple(classes)}: set num_classes={len(classes)}')


def check_dataset(dataset) -> None:
    """All checks, on every dataset inside ``dataset``'s wrappers."""
    for leaf in leaf_datasets(dataset):
        if hasattr(leaf, 'get_data_info'):
            leaf.full_init()
        if not hasattr(leaf, 'get_data_info') or len(leaf):
            check_coco_classes(leaf)  # an empty dataset is told as such first
        check_samples(leaf)
