"""Run an exported segmentor in ONNX Runtime and paint its predictions, as tools/infer.py does.

    python tools/deployment/onnx_infer.py FILE.onnx INPUTS... --out-dir DIR [--provider CPUExecutionProvider]

INPUTS are image files, folders (searched recursively) or globs. DIR/vis/ receives one painted image per
input (class colours, region boundaries, a legend of the classes present), DIR/preds/ one JSON file with
the fraction of the image each class covers. The file carries its classes, palette and test-time resize
(written by pytorch2onnx.py). Unreadable inputs are named and skipped; the exit status is then 1.
"""
import argparse
import sys

from mambavision_mm.apis.inputs import InputError, report
from mambavision_mm.deploy.onnx_runtime import run_onnx_inference


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('onnx_file', help='a segmentor exported by pytorch2onnx.py')
    parser.add_argument('inputs', nargs='+', help='image files, folders or globs')
    parser.add_argument('--out-dir', required=True, help='where vis/ and preds/ are written')
    parser.add_argument('--provider', nargs='+', default=['CPUExecutionProvider'],
                        help='ONNX Runtime execution providers, in order of preference')
    args = parser.parse_args()
    try:
        written, skipped = run_onnx_inference(args.onnx_file, args.inputs, args.out_dir, args.provider)
    except InputError as exc:
        sys.exit(f'error: {exc}')
    sys.exit(report(written, skipped, args.out_dir))


if __name__ == '__main__':
    main()
