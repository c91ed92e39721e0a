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


def check_files_exist(dataset) -> None:
    """Every sample's image (and segmentation map, where the dataset has them) exists."""
    samples = _samples(dataset)
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
        check_files_exist(leaf)
        check_coco_categories(leaf)
