"""Write a small generated dataset of drawn shapes for the demo, the tests or a first try of the configs.

    python tools/misc/generate_toy_data.py coco OUT_DIR [--train 16] [--val 8] [--size 224 224] [--seed 0]
        [--custom-layout] [--boxes-only]
    python tools/misc/generate_toy_data.py ade20k OUT_DIR [--train 16] [--val 8] [--seed 0] [--custom-layout]

coco: the layout of mmdet's COCO configs (boxes and polygon masks of rectangles, ellipses and triangles).
ade20k: the layout of mmseg's ADE20K configs (label 0 background, 1..3 the shapes; varied image sizes).
--custom-layout: the layout of the custom-data templates instead (docs/custom_data.md).
--boxes-only (coco): annotations without segmentation, as labelling tools export boxes.
"""
import argparse

from mambavision_mm.testing import generate_ade20k, generate_coco


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('layout', choices=['coco', 'ade20k'])
    parser.add_argument('out_dir')
    parser.add_argument('--train', type=int, default=16, help='number of training images')
    parser.add_argument('--val', type=int, default=8, help='number of validation images')
    parser.add_argument('--size', type=int, nargs=2, default=(224, 224), metavar=('W', 'H'),
                        help='image size (coco; ade20k images vary in size)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--custom-layout', action='store_true',
                        help="the custom-data templates' layout (docs/custom_data.md)")
    parser.add_argument('--boxes-only', action='store_true', help='coco: boxes without segmentation')
    args = parser.parse_args()
    if args.boxes_only and args.layout != 'coco':
        parser.error('--boxes-only is for the coco layout')
    if args.layout == 'coco':
        generate_coco(args.out_dir, args.train, args.val, tuple(args.size), args.seed, args.custom_layout,
                      args.boxes_only)
    else:
        generate_ade20k(args.out_dir, args.train, args.val, args.seed, args.custom_layout)
    layout = f'custom-data {args.layout}' if args.custom_layout else args.layout
    print(f'wrote {args.train} training and {args.val} validation images in the {layout} layout to {args.out_dir}')


if __name__ == '__main__':
    main()
