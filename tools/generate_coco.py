"""Write a small COCO-format instance-segmentation dataset of drawn shapes.

    python tools/generate_coco.py OUT_DIR [--train 8] [--val 4] [--size 320 256] [--seed 0]

Layout (as mmdet's COCO configs expect under data_root):
    OUT_DIR/train2017/*.jpg, OUT_DIR/val2017/*.jpg,
    OUT_DIR/annotations/instances_train2017.json, OUT_DIR/annotations/instances_val2017.json
Categories: rectangle, ellipse, triangle, each a filled shape with a polygon mask.
"""
import argparse
import json
import os

import cv2
import numpy as np

CATEGORIES = ('rectangle', 'ellipse', 'triangle')
COLOURS = ((220, 60, 60), (60, 200, 60), (60, 90, 230))


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


def make_split(out_dir, split, count, size, rng, first_ann_id):
    width, height = size
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    ann_id = first_ann_id
    for index in range(count):
        image = (rng.normal(110, 25, (height, width, 3))).clip(0, 255).astype(np.uint8)
        file_name = f'{index:06d}.jpg'
        for _ in range(rng.integers(1, 4)):
            label = int(rng.integers(len(CATEGORIES)))
            polygon = shape_polygon(CATEGORIES[label], rng, width, height)
            cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], COLOURS[label])
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            annotations.append(dict(
                id=ann_id, image_id=index, category_id=label + 1, iscrowd=0,
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                area=float(cv2.contourArea(polygon.astype(np.float32))),
                segmentation=[[float(v) for v in polygon.reshape(-1)]]))
            ann_id += 1
        cv2.imwrite(os.path.join(out_dir, split, file_name), image)
        images.append(dict(id=index, file_name=file_name, width=width, height=height))
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CATEGORIES)]
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    with open(os.path.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return ann_id


def generate(out_dir, train=8, val=4, size=(320, 256), seed=0):
    """Write the dataset; returns out_dir."""
    rng = np.random.default_rng(seed)
    next_id = make_split(out_dir, 'train2017', train, size, rng, 1)
    make_split(out_dir, 'val2017', val, size, rng, next_id)
    return out_dir


def dataset_parser(description):
    """Command-line arguments shared by the dataset generators: OUT_DIR, --train, --val, --seed."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir')
    parser.add_argument('--train', type=int, default=8, help='number of training images')
    parser.add_argument('--val', type=int, default=4, help='number of validation images')
    parser.add_argument('--seed', type=int, default=0)
    return parser


def main():
    parser = dataset_parser(__doc__)
    parser.add_argument('--size', type=int, nargs=2, default=(320, 256), metavar=('W', 'H'))
    args = parser.parse_args()
    generate(args.out_dir, args.train, args.val, tuple(args.size), args.seed)
    print(f'wrote {args.train} training and {args.val} validation images with COCO annotations to {args.out_dir}')


if __name__ == '__main__':
    main()
