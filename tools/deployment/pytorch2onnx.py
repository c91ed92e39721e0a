"""Export a MambaVision backbone, segmentor or whole detector to ONNX and check it in ONNX Runtime.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out FILE.onnx [--shape H W] [--dynamic]
        [--backbone-only | --features-only] [--opset 18] [--no-verify] [--repeats N] [--cfg-options key=value ...]

From an mmseg config: the segmentor (image in, logits at the input's resolution out). From an mmdet config:
the whole detector (image in; boxes, scores, labels and, with a mask head, masks out; the test config's
thresholds, NMS and max_per_img as they are after --cfg-options), or with --features-only its backbone and
neck (FPN maps out). With --backbone-only: the backbone (normalised tensor in, four feature maps out);
CHECKPOINT may then also be a published classification file. Without CHECKPOINT the model keeps its initial
weights. --shape defaults to the config's test size (512x512 for ADE20K, 800x1333 for COCO). --dynamic makes
height and width dynamic axes.

After export the file is run in ONNX Runtime at the export size (and, with --dynamic, at a second, odd
size) and compared: a detector's detections with mmdet's own inference, detection by detection; other parts'
outputs with PyTorch, as the largest difference relative to the output's largest magnitude. --repeats N also
times both, the median of N runs after that first one. Nothing is left at --out when the export fails.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from mambavision_backbone.errors import CheckpointReadError
from mambavision_mm.analysis.measure import measure
from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.models import read_config
from mambavision_mm.deploy.detection_match import describe_match, match_detections
from mambavision_mm.deploy.detector_export import mmdet_detections
from mambavision_mm.deploy.onnx_export import build_export_module, export_onnx, export_shape
from mambavision_mm.deploy.onnx_runtime import max_relative_difference, onnx_session


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmdet or mmseg config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (default: the initial weights)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='example input size')
    parser.add_argument('--dynamic', action='store_true', help='height and width as dynamic axes')
    part = parser.add_mutually_exclusive_group()
    part.add_argument('--backbone-only', action='store_true', help='export the backbone alone')
    part.add_argument('--features-only', action='store_true',
                      help="export a detector's backbone and neck (FPN maps out) instead of the whole detector")
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (at least 18)')
    parser.add_argument('--no-verify', action='store_true', help='skip the ONNX Runtime check')
    parser.add_argument('--repeats', type=int, default=0,
                        help='also time ONNX Runtime and PyTorch eager, median of this many runs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


def verify(path, module, part, shapes, repeats):
    session = onnx_session(path)
    for height, width in shapes:
        image = torch.rand(1, 3, height, width) * (1.0 if part == 'backbone' else 255.0)
        outputs = session.run(None, {'image': image.numpy()})
        if part == 'detector':
            def pytorch():
                return mmdet_detections(module.detector, image)
            match = match_detections(pytorch(), dict(zip(module.output_names(), outputs)))
            print(f'ONNX Runtime vs mmdet at {height}x{width}: {describe_match(match)}', flush=True)
        else:
            def pytorch():
                with torch.no_grad():
                    return module(image)
            expected = pytorch()
            expected = expected if isinstance(expected, tuple) else (expected,)
            print(f'ONNX Runtime vs PyTorch at {height}x{width}: max relative difference '
                  f'{max_relative_difference(outputs, expected):.2e}', flush=True)
        if repeats:
            eager, _ = measure(pytorch, torch.device('cpu'), repeats)
            runtime, _ = measure(lambda: session.run(None, {'image': image.numpy()}), torch.device('cpu'), repeats)
            print(f'latency at {height}x{width}, median of {repeats} after a warm-up: ONNX Runtime '
                  f'{runtime:.3f} s, PyTorch eager {eager:.3f} s ({torch.get_num_threads()} threads)', flush=True)


def main():
    args = parse_args()
    if args.opset < 18:
        sys.exit('error: --opset must be at least 18 (the opset of the torch.export-based exporter)')
    try:
        cfg = read_config(args.config, args.cfg_options)
        module, part, metadata = build_export_module(cfg, args.checkpoint, args.backbone_only, args.features_only)
    except (InputError, CheckpointReadError) as exc:
        sys.exit(f'error: {exc}')
    shape = tuple(args.shape) if args.shape else export_shape(cfg)
    print(f'exporting the {part} of {osp.basename(args.config)} ({metadata["checkpoint"]}) at '
          f'{shape[0]}x{shape[1]}{", dynamic height and width" if args.dynamic else ""}, opset {args.opset}',
          flush=True)
    result = export_onnx(module, part, metadata, args.out, shape, args.dynamic, args.opset)
    if result['shape'] != shape:
        print(f'traced at {result["shape"][0]}x{result["shape"][1]}, where every window stage pads its map, so '
              'that padding and window counts stay dynamic in the graph', flush=True)
        shape = result['shape']
    print(f'wrote {args.out}: {result["nodes"]} nodes, {result["size"] / 2**20:.1f} MiB, '
          f'exported in {result["seconds"]:.1f} s', flush=True)
    if args.no_verify:
        return
    shapes = [shape]
    if args.dynamic:
        shapes.append((shape[0] * 2 // 3 | 1, shape[1] * 5 // 6 | 1))
    try:
        verify(args.out, module, part, shapes, args.repeats)
    except InputError as exc:
        print(f'not verified: {exc}')


if __name__ == '__main__':
    main()
