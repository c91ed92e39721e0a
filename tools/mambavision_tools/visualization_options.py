"""The command-line options that the visualisation tools share, and their checking."""
import argparse

from mmengine.config import DictAction

IMAGE_SIZE_HELP = "resize the image to HxW (default: as the config's test pipeline; 512x512 for an arch)"


def add_model_arguments(parser: argparse.ArgumentParser, config_help: str, image: bool) -> None:
    """CONFIG, [CHECKPOINT] and, with ``image``, IMAGE."""
    parser.add_argument('config', help=config_help)
    parser.add_argument('checkpoint', nargs='?',
                        help='whole-model checkpoint (ImageNet one for an arch name), file or URL')
    if image:
        parser.add_argument('image')


def add_output_options(parser: argparse.ArgumentParser, size_help: str) -> None:
    """--out-dir, --size and --cfg-options."""
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'), help=size_help)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.window_size="(8,8,10,5)"')


def parse_visualization_options(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments; a size that is not positive is a usage error."""
    args = parser.parse_args()
    if args.size is not None and min(args.size) < 1:
        parser.error('--size takes two positive numbers')
    return args
