"""Effective receptive field of each stage of a backbone, as RepLKNet and VMamba compute it.

    python tools/analysis_tools/visualize_erf.py CONFIG [CHECKPOINT] --images PATHS... --out-dir DIR
        [--num-images N] [--size H W] [--compare CONFIG2 [CHECKPOINT2]]

CONFIG is an mmdet or mmseg config (the backbone of the model it builds, whatever backbone it is; CHECKPOINT is
the whole model's) or a MambaVision arch name (tiny, small, ...; CHECKPOINT is an ImageNet file or URL). Without
a checkpoint the weights are random. Writes erf_stage1..4.png, erf_grid.png and erf.json (per stage, the
high-contribution area ratios at thresholds 0.2, 0.3, 0.5 and 0.99); --compare adds a second row to the grid,
compare_erf_stage*.png and erf_compare.json.
"""
import argparse

from mambavision_tools import visualization_options as options
from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.visualization import visualize_erf


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_model_arguments(parser, 'mmdet/mmseg config, or a MambaVision arch name', image=False)
    parser.add_argument('--images', nargs='+', required=True, help='image files, folders or globs')
    parser.add_argument('--num-images', type=int, help='use the first N images')
    parser.add_argument('--compare', nargs='+', metavar='CONFIG2 [CHECKPOINT2]', default=[],
                        help='a second model drawn beside the first')
    options.add_output_options(parser, "resize every image to HxW (default: the test pipeline's size of the first "
                                       'image; 512x512 for an arch name)')
    args = options.parse_visualization_options(parser)
    if args.num_images is not None and args.num_images < 1:
        parser.error('--num-images must be at least 1')
    if len(args.compare) > 2:
        parser.error('--compare takes a config and at most one checkpoint')

    def run():
        written = visualize_erf(args.config, args.checkpoint, args.images, args.out_dir, args.num_images,
                                args.size, args.compare, args.cfg_options)
        print(f'wrote {", ".join(written)} in {args.out_dir}')
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
