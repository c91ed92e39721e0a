"""Run an exported segmentor or detector in ONNX Runtime and paint its predictions, as tools/infer.py does.

    python tools/deployment/onnx_infer.py FILE.onnx INPUTS... --out-dir DIR [--score-thr 0.3]
        [--provider CPUExecutionProvider]

INPUTS are image files, folders (searched recursively) or globs. Each image is resized as the config's test
pipeline resizes it, run, and its predictions brought back to the image's own size. DIR/vis/ receives one
painted image per input, DIR/preds/ one JSON file: for a segmentor the class colours, region boundaries and a
legend, and the fraction of the image each class covers; for a detector the boxes, class names, scores and
masks scored at least --score-thr, and those detections with their boxes and run-length-encoded masks. The
file carries its classes, palette and test-time resize (written by pytorch2onnx.py). Unreadable inputs are
named and skipped; the exit status is then 1.
"""
import argparse
import sys

from mambavision_mm.apis.inputs import InputError, report
from mambavision_mm.deploy.onnx_runtime import run_onnx_inference


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('onnx_file', help='a segmentor or detector exported by pytorch2onnx.py')
    parser.add_argument('inputs', nargs='+', help='image files, folders or globs')
    parser.add_argument('--out-dir', required=True, help='where vis/ and preds/ are written')
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score painted and saved (detection)')
    parser.add_argument('--provider', nargs='+', default=['CPUExecutionProvider'],
                        help='ONNX Runtime execution providers, in order of preference')
    args = parser.parse_args()
    try:
        written, skipped = run_onnx_inference(args.onnx_file, args.inputs, args.out_dir, args.provider,
                                               args.score_thr)
    except InputError as exc:
        sys.exit(f'error: {exc}')
    sys.exit(report(written, skipped, args.out_dir))


if __name__ == '__main__':
    main()
