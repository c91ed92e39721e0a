"""Each stage's features projected on their three principal components, as an RGB picture beside the image.

    python tools/analysis_tools/visualize_features.py CONFIG [CHECKPOINT] IMAGE --out-dir DIR [--size H W]

CONFIG is an mmdet or mmseg config (any backbone) or a MambaVision arch name. Writes features.png (all stages),
features_stage1..4.png and features.json (per stage, the share of the variance each component explains).
"""
import argparse

from mmengine.config import DictAction

from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.visualization import visualize_features


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmdet/mmseg config, or a MambaVision arch name')
    parser.add_argument('checkpoint', nargs='?', help='whole-model checkpoint (or ImageNet one for an arch)')
    parser.add_argument('image')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help="resize the image to HxW (default: as the config's test pipeline; 512x512 for an arch)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.window_size="(8,8,10,5)"')
    args = parser.parse_args()
    if args.size is not None and min(args.size) < 1:
        parser.error('--size takes two positive numbers')

    def run():
        written = visualize_features(args.config, args.checkpoint, args.image, args.out_dir,
                                     args.cfg_options, args.size)
        print(f'wrote {", ".join(written)} in {args.out_dir}')
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
