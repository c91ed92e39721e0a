"""What one query point attends to in every block of stages 3 and 4 of a MambaVision backbone.

    python tools/analysis_tools/visualize_attention.py CONFIG [CHECKPOINT] IMAGE --out-dir DIR [--point Y X]
        [--per-head] [--save-raw] [--size H W]

Self-attention blocks: the query's attention weights over its window (mean over heads; --per-head adds one
panel per head), recomputed from the block's q and k. Mixer blocks: the selective scan's hidden attention, the
mean over channels of |alpha[t, s]| with y_t = sum over s <= t of alpha[t, s] x_s (D on the diagonal). The
point is in the original image's pixels (default: its centre); padded tokens of the published windows are
hatched. Writes <block>.png per block, attention.json listing them and, with --save-raw, raw/<block>.npy (the
query's map on the window's token grid).
"""
import argparse

from mambavision_tools import visualization_options as options
from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.visualization import visualize_attention


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_model_arguments(parser, 'mmdet/mmseg config with a MambaVision backbone, or an arch name', image=True)
    parser.add_argument('--point', type=float, nargs=2, metavar=('Y', 'X'),
                        help="query point in the image's pixels (default: the centre)")
    parser.add_argument('--per-head', action='store_true', help='one panel per attention head as well')
    parser.add_argument('--save-raw', action='store_true', help='also write raw/<block>.npy')
    options.add_output_options(parser, options.IMAGE_SIZE_HELP)
    args = options.parse_visualization_options(parser)

    def run():
        written = visualize_attention(args.config, args.checkpoint, args.image, args.out_dir, args.point,
                                      args.per_head, args.save_raw, args.cfg_options, args.size)
        print(f'wrote {len(written)} files in {args.out_dir}')
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
