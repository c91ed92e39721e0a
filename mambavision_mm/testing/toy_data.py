"""Small generated datasets of drawn shapes, in the layouts of mmdet's COCO and mmseg's ADE20K configs.

They let the demo and the tests train and evaluate real detectors and segmentors without downloading data.
Every image has a noisy grey background and one to three filled shapes (rectangle, ellipse, triangle),
each in its own colour.

- COCO layout: ``train2017/*.jpg``, ``val2017/*.jpg``, ``annotations/instances_{train,val}2017.json``
  (boxes and polygon masks; category ids 1..3).
- ADE20K layout: ``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``,
  with label 0 for the background and 1..3 for the shapes. Image sizes vary and are not multiples of 32, so
  that testing meets feature maps that are not multiples of the backbone's windows.
"""
import json
import os

import cv2
import numpy as np

CATEGORIES = ('rectangle', 'ellipse', 'triangle')
COLOURS = ((220, 60, 60), (60, 200, 60), (60, 90, 230))  # BGR, as cv2 draws


def shape_polygon(kind, rng, width, height):
    """A random polygon (N, 2) of the given kind that lies inside the image."""
    w = rng.uniform(0.15, 0.4) * width
    h = rng.uniform(0.15, 0.4) * height
    cx = rng.uniform(w / 2 + 2, width - w / 2 - 2)
    cy = rng.uniform(h / 2 + 2, height - h / 2 - 2)
    if kind == 'rectangle':
        return np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h / 2],
                         [cx - w / 2, cy + h / 2]])
    if kind == 'ellipse':
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        return np.stack([cx + w / 2 * np.cos(angles), cy + h / 2 * np.sin(angles)], axis=1)
    return np.array([[cx, cy - h / 2], [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])


def draw_image(rng, width, height):
    """(BGR image, [(category index, polygon)]): later shapes are drawn over earlier ones."""
    image = rng.normal(110, 25, (height, width, 3)).clip(0, 255).astype(np.uint8)
    shapes = []
    for _ in range(rng.integers(1, 4)):
        category = int(rng.integers(len(CATEGORIES)))
        polygon = shape_polygon(CATEGORIES[category], rng, width, height)
        cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], COLOURS[category])
        shapes.append((category, polygon))
    return image, shapes


def _coco_split(out_dir, split, count, size, rng, first_ann_id, ann_file, boxes_only):
    width, height = size
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    ann_id = first_ann_id
    for index in range(count):
        image, shapes = draw_image(rng, width, height)
        file_name = f'{index:06d}.jpg'
        for category, polygon in shapes:
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            annotation = dict(id=ann_id, image_id=index, category_id=category + 1, iscrowd=0,
                              bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                              area=float(cv2.contourArea(polygon.astype(np.float32))))
            if not boxes_only:
                annotation['segmentation'] = [[float(v) for v in polygon.reshape(-1)]]
            annotations.append(annotation)
            ann_id += 1
        cv2.imwrite(os.path.join(out_dir, split, file_name), image)
        images.append(dict(id=index, file_name=file_name, width=width, height=height))
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CATEGORIES)]
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    with open(os.path.join(out_dir, 'annotations', ann_file), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return ann_id


def generate_coco(out_dir, train=16, val=8, size=(224, 224), seed=0, custom_layout=False, boxes_only=False):
    """Write the COCO-layout dataset (images of ``size`` = (W, H)); returns ``out_dir``.

    ``custom_layout``: the layout of docs/custom_data.md (``annotations/{train,val}.json``, ``{train,val}/``)
    instead of COCO's (``annotations/instances_{train,val}2017.json``, ``{train,val}2017/``).
    ``boxes_only``: no ``segmentation`` in the annotations, as labelling tools export boxes.
    """
    rng = np.random.default_rng(seed)
    splits = ('train', 'val') if custom_layout else ('train2017', 'val2017')
    names = [f'{s}.json' if custom_layout else f'instances_{s}.json' for s in splits]
    next_id = _coco_split(out_dir, splits[0], train, size, rng, 1, names[0], boxes_only)
    _coco_split(out_dir, splits[1], val, size, rng, next_id, names[1], boxes_only)
    return out_dir


def _ade20k_split(out_dir, split, count, rng, labels):
    for sub in ('images', labels):
        os.makedirs(os.path.join(out_dir, sub, split), exist_ok=True)
    for index in range(count):
        width, height = int(rng.integers(200, 420)), int(rng.integers(180, 330))
        image, shapes = draw_image(rng, width, height)
        label = np.zeros((height, width), np.uint8)
        for category, polygon in shapes:
            cv2.fillPoly(label, [np.round(polygon).astype(np.int32)], category + 1)
        name = f'toy_{split}_{index:06d}'
        cv2.imwrite(os.path.join(out_dir, 'images', split, name + '.jpg'), image)
        cv2.imwrite(os.path.join(out_dir, labels, split, name + '.png'), label)


def generate_ade20k(out_dir, train=16, val=8, seed=0, custom_layout=False):
    """Write the ADE20K-layout dataset; returns ``out_dir``.

    ``custom_layout``: the layout of docs/custom_data.md (``images/{train,val}/``, ``labels/{train,val}/``)
    instead of ADE20K's (``images/{training,validation}/``, ``annotations/{training,validation}/``).
    """
    rng = np.random.default_rng(seed)
    labels = 'labels' if custom_layout else 'annotations'
    for split, count in zip(('train', 'val') if custom_layout else ('training', 'validation'), (train, val)):
        _ade20k_split(out_dir, split, count, rng, labels)
    return out_dir


def generate_coco_annotations(out_dir, images=20000, annotations=145000, categories=80, seed=0):
    """A COCO-size annotation file without pixels, to measure what reading and checking it costs: ``images``
    empty image files under ``train2017/`` (sizes 480-640 x 360-640, as COCO's) and ``annotations`` boxes with
    12-point polygon masks spread over them, of ``categories`` categories named ``class_0``, ... . Returns the
    annotation file's path."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, 'train2017'), exist_ok=True)
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    widths, heights = rng.integers(480, 641, images), rng.integers(360, 641, images)
    image_list = []
    for index in range(images):
        file_name = f'{index:012d}.jpg'
        open(os.path.join(out_dir, 'train2017', file_name), 'wb').close()
        image_list.append(dict(id=index, file_name=file_name, width=int(widths[index]), height=int(heights[index])))
    owners = rng.integers(0, images, annotations)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    annotation_list = []
    for ann_id, owner in enumerate(owners, start=1):
        width, height = widths[owner], heights[owner]
        w, h = rng.uniform(8, width / 2), rng.uniform(8, height / 2)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        polygon = np.stack([x + w / 2 * (1 + np.cos(angles)), y + h / 2 * (1 + np.sin(angles))], axis=1)
        annotation_list.append(dict(id=ann_id, image_id=int(owner), category_id=int(rng.integers(1, categories + 1)),
                                    iscrowd=0, bbox=[round(float(v), 2) for v in (x, y, w, h)],
                                    area=round(float(np.pi * w * h / 4), 2),
                                    segmentation=[[round(float(v), 2) for v in polygon.reshape(-1)]]))
    path = os.path.join(out_dir, 'annotations', 'instances_train2017.json')
    with open(path, 'w') as f:
        json.dump(dict(images=image_list, annotations=annotation_list,
                       categories=[dict(id=i + 1, name=f'class_{i}', supercategory='thing')
                                   for i in range(categories)]), f)
    return path
