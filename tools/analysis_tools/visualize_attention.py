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

from mmengine.config import DictAction

from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.visualization import visualize_attention


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmdet/mmseg config with a MambaVision backbone, or an arch name')
    parser.add_argument('checkpoint', nargs='?', help='whole-model checkpoint (or ImageNet one for an arch)')
    parser.add_argument('image')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--point', type=float, nargs=2, metavar=('Y', 'X'),
                        help="query point in the image's pixels (default: the centre)")
    parser.add_argument('--per-head', action='store_true', help='one panel per attention head as well')
    parser.add_argument('--save-raw', action='store_true', help='also write raw/<block>.npy')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help="resize the image to HxW (default: as the config's test pipeline; 512x512 for an arch)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.window_size="(8,8,10,5)"')
    args = parser.parse_args()
    if args.size is not None and min(args.size) < 1:
        parser.error('--size takes two positive numbers')

    def run():
        written = visualize_attention(args.config, args.checkpoint, args.image, args.out_dir, args.point,
                                      args.per_head, args.save_raw, args.cfg_options, args.size)
        print(f'wrote {len(written)} files in {args.out_dir}')
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
