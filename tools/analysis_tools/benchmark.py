"""Inference throughput and peak memory of a detector or segmentor config, backbone alone and whole model.

    python tools/analysis_tools/benchmark.py CONFIG [--device cpu|cuda] [--batch 1] [--shape H W] [--repeats 5]
        [--compare]

The whole model runs its predict step (heads and post-processing, no data pipeline) on random images of
the given size (default: the size FLOPs are quoted at, 800x1280 for detection and the test resize's
short x long edge for segmentation, 512x2048 for ADE20K). Times are medians of
--repeats runs after one warm-up run, which also gives the peak memory. --compare puts the same
detector/segmentor with mmdet's/mmseg's Swin-T and ResNet-50 backbones through the same measurement.
"""
import argparse

import torch

from mambavision_mm.analysis.counterparts import COUNTERPARTS, swap_backbone
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.flops import build, measurement_shape
from mambavision_mm.analysis.measure import Table, fmt_mem, measure


def bench(name, cfg, args, device, table):
    _, model, inputs, samples = build(cfg, *args.shape)
    model = model.to(device)
    inputs = inputs.to(device).expand(args.batch, -1, -1, -1).contiguous()
    samples = samples * args.batch
    cells = [name, f'{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M']
    with torch.no_grad():
        for fn in (lambda: model.backbone(inputs), lambda: model.predict(inputs, samples)):
            seconds, peak = measure(fn, device, args.repeats)
            cells += [f'{args.batch / seconds:.3g}', fmt_mem(peak)]
    table.row(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--compare', action='store_true', help='also Swin-T and ResNet-50 in the same model')
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    from mambavision_mm.apis.models import read_config
    cfg = read_config(args.config)
    args.shape = tuple(args.shape or measurement_shape(cfg))
    print(f'# {args.config}\n# {args.shape[0]}x{args.shape[1]} (HxW), batch {args.batch}, {machine_line(device)}; '
          f'median of {args.repeats}\n', flush=True)
    table = Table(['backbone', 'params', 'backbone img/s', 'backbone peak mem', 'model img/s', 'model peak mem'],
                  [11, 8, 14, 17, 11, 14])
    bench('MambaVision', cfg, args, device, table)
    if args.compare:
        for name, (backbone, channels) in COUNTERPARTS.items():
            bench(name, swap_backbone(cfg, backbone, channels), args, device, table)


if __name__ == '__main__':
    main()
