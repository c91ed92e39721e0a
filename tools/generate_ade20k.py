"""Write a small semantic-segmentation dataset in the ADE20K layout.

    python tools/generate_ade20k.py OUT_DIR [--train 8] [--val 4] [--seed 0]

OUT_DIR/images/{training,validation}/*.jpg and OUT_DIR/annotations/{training,validation}/*.png.
Annotations follow ADE20K: 0 is "other" (ignored after reduce_zero_label), 1..3 are the classes
rectangle, ellipse and triangle. Image sizes vary (and are not multiples of 32) so that testing sees
feature maps that are not multiples of the backbone's windows.
"""
import os

import cv2
import numpy as np

from generate_coco import CATEGORIES, COLOURS, dataset_parser, shape_polygon


def make_split(out_dir, split, count, rng):
    for sub in ('images', 'annotations'):
        os.makedirs(os.path.join(out_dir, sub, split), exist_ok=True)
    for index in range(count):
        width, height = int(rng.integers(200, 420)), int(rng.integers(180, 330))
        image = rng.normal(110, 25, (height, width, 3)).clip(0, 255).astype(np.uint8)
        label = np.zeros((height, width), np.uint8)
        for _ in range(rng.integers(1, 4)):
            category = int(rng.integers(len(CATEGORIES)))
            polygon = np.round(shape_polygon(CATEGORIES[category], rng, width, height)).astype(np.int32)
            cv2.fillPoly(image, [polygon], COLOURS[category])
            cv2.fillPoly(label, [polygon], category + 1)
        name = f'toy_{split}_{index:06d}'
        cv2.imwrite(os.path.join(out_dir, 'images', split, name + '.jpg'), image)
        cv2.imwrite(os.path.join(out_dir, 'annotations', split, name + '.png'), label)


def generate(out_dir, train=8, val=4, seed=0):
    """Write the dataset; returns out_dir."""
    rng = np.random.default_rng(seed)
    make_split(out_dir, 'training', train, rng)
    make_split(out_dir, 'validation', val, rng)
    return out_dir


def main():
    args = dataset_parser(__doc__).parse_args()
    generate(args.out_dir, args.train, args.val, args.seed)
    print(f'wrote {args.train} training and {args.val} validation images in the ADE20K layout to {args.out_dir}')


if __name__ == '__main__':
    main()
