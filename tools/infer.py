"""Paint the predictions of a detector or segmentor on images and save them with JSON predictions.

    python tools/infer.py CONFIG CHECKPOINT INPUTS... --out-dir DIR [--device cpu|cuda] [--score-thr 0.3]
        [--batch-size N]

INPUTS are image files, folders (searched recursively) or globs. DIR/vis/ receives one painted image per
input, DIR/preds/ one JSON file. Unreadable inputs are named and skipped; the exit status is then 1.
"""
import argparse
import sys

from mambavision_backbone.errors import CheckpointReadError
from mambavision_mm.apis.inference import run_inference
from mambavision_mm.apis.inputs import InputError, report


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file (mmdet or mmseg)')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('inputs', nargs='+', help='image files, folders or globs')
    parser.add_argument('--out-dir', required=True, help='where vis/ and preds/ are written')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score painted and saved (detection)')
    parser.add_argument('--batch-size', type=int, default=1)
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        written, skipped = run_inference(args.config, args.checkpoint, args.inputs, args.out_dir, args.device,
                                         args.score_thr, args.batch_size)
    except (InputError, CheckpointReadError) as exc:
        sys.exit(f'error: {exc}')
    sys.exit(report(written, skipped, args.out_dir))


if __name__ == '__main__':
    main()
