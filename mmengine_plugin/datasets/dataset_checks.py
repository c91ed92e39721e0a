"""Checks of built datasets that fail early, naming the file, instead of deep inside a data-loader worker.

They read what mmengine datasets already hold (each sample's ``img_path`` / ``seg_map_path``, a COCO
dataset's category map), so they cost a file-existence test per sample and no second parse of the
annotation file, except to name the offending categories once a problem is found.
"""
import json
import os.path as osp
from typing import Iterator, List

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


def _samples(dataset) -> List[dict]:
    if not hasattr(dataset, 'get_data_info'):
        return []
    dataset.full_init()  # a no-op once the dataset has loaded its annotations
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def check_files_exist(dataset, samples) -> None:
    """Every sample's image (and segmentation map, where the dataset has them) exists."""
    missing = [s['img_path'] for s in samples if s.get('img_path') and not osp.isfile(s['img_path'])]
    if missing:
        raise DatasetError(f'{len(missing)} of {len(samples)} images of {_describe(dataset)} do not exist, '
                           f'e.g. {missing[0]}')
    unlabelled = [s for s in samples if s.get('seg_map_path') and not osp.isfile(s['seg_map_path'])]
    if unlabelled:
        first = unlabelled[0]
        raise DatasetError(f"{len(unlabelled)} of {len(samples)} images of {_describe(dataset)} have no "
                           f"annotation, e.g. {first.get('img_path')} (expected {first['seg_map_path']})")


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


def _json_categories(ann_file) -> List[dict]:
    """The annotation file's categories, in its order (mmdet keeps none of the names; this reads the file again)."""
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


def check_not_empty(dataset, samples) -> None:
    """A dataset has at least one sample (mmdet drops the images without annotations from training sets)."""
    if hasattr(dataset, 'get_data_info') and not samples:
        raise empty_dataset_error(dataset)


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


def check_boxes_inside_images(dataset, samples, tolerance: float = 1.0) -> None:
    """Every box lies inside its image (within ``tolerance`` pixels): a box outside is a labelling or export
    error (wrong image size, boxes of a resized image) that would train on the wrong pixels."""
    outside = []
    for sample in samples:
        width, height = sample.get('width'), sample.get('height')
        if width is None or height is None:
            continue
        for instance in sample.get('instances', []):
            x1, y1, x2, y2 = instance.get('bbox', (0, 0, 0, 0))
            if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
                outside.append((sample['img_path'], width, height, [round(v, 1) for v in (x1, y1, x2, y2)]))
    if outside:
        path, width, height, box = outside[0]
        raise DatasetError(f'{len(outside)} boxes of {_describe(dataset)} lie outside their image, e.g. {box} '
                           f'(x1, y1, x2, y2) in {path} of {width}x{height}: check the width and height of the '
                           "file's images and the boxes' [x, y, w, h]")


def _loads_masks(dataset) -> bool:
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    return any(getattr(t, 'with_mask', False) for t in transforms)


def check_masks_present(dataset, samples) -> None:
    """When the pipeline loads masks, every box has one (mmdet would fail on the first box without)."""
    if not _loads_masks(dataset):
        return
    instances = [i for sample in samples for i in sample.get('instances', [])]
    without = sum(1 for i in instances if i.get('mask') is None)
    if without:
        raise DatasetError(f'{without} of {len(instances)} boxes of {_describe(dataset)} have no segmentation, but '
                           'the pipeline loads masks (LoadAnnotations with_mask=True): for boxes-only data use '
                           'configs/mmdet/custom/cascade-rcnn_mambavision-t_fpn_custom.py')


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
        samples = _samples(leaf)  # read once for every check
        check_not_empty(leaf, samples)
        check_coco_classes(leaf)
        check_files_exist(leaf, samples)
        check_coco_categories(leaf)
        check_boxes_inside_images(leaf, samples)
        check_masks_present(leaf, samples)
