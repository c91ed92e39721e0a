"""Speed and peak memory of the selective-scan backends at the shapes the published configs produce.

    python tools/analysis_tools/benchmark_scan.py [--device cpu|cuda] [--dtype fp32|bf16|fp16]
        [--backend torch reference triton cuda] [--cases classification detection segmentation]
        [--repeats 3] [--batch 64] [--full-reference]

Shapes (B, D, N, L): classification T at 224 (stage 3, one 14x14 window per image: B = --batch, D = 160,
L = 196); detection T at 800x1280 (stage 3: D = 160, L = 12,544; stage 4: D = 320, L = 3,136); segmentation
S at 512x512 (stage 3: D = 192, L = 25,600). Times are the median of --repeats runs after a warm-up run,
which gives the peak memory; on CUDA every run is synchronised. By default the backends are torch and
reference, plus triton (triton installed) and cuda (mamba-ssm installed) on --device cuda. Inputs in --dtype;
every backend accumulates in fp32. The reference backend's backward is quadratic in L: its long cases are skipped unless
--full-reference.
"""
import argparse

import torch

from mambavision_backbone import selective_scan
from mambavision_backbone.scan import random_scan_inputs
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.measure import Table, fmt_mem, measure
from mambavision_mm.analysis.scan_shapes import published_scan_shapes
from mambavision_tools.scan_benchmark_options import add_scan_benchmark_options, parse_scan_benchmark_options

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
CASES = ('classification', 'detection', 'segmentation')


def scan_inputs(shape, device, dtype):
    """Random inputs in ``dtype`` on ``device``; the parameters (A, D, delta bias) stay fp32, as in the model."""
    inputs = random_scan_inputs(*shape, dtype=torch.float32)
    return {k: v.to(device) if k in ('A', 'D', 'delta_bias') else v.to(device, dtype) for k, v in inputs.items()}


def bench(backend, shape, device, dtype, repeats, skip_backward):
    inputs = scan_inputs(shape, device, dtype)

    def forward():
        with torch.no_grad():
            selective_scan(**inputs, delta_softplus=True, backend=backend)
    seconds, peak = measure(forward, device, repeats)
    cells = [f'{seconds * 1e3:.1f} ms', fmt_mem(peak)]
    if skip_backward:
        return cells + ['skipped', 'skipped']
    leaves = {k: v.requires_grad_(True) for k, v in scan_inputs(shape, device, dtype).items()}

    def train():
        selective_scan(**leaves, delta_softplus=True, backend=backend).float().sum().backward()
    seconds, peak = measure(train, device, repeats)
    return cells + [f'{seconds * 1e3:.1f} ms', fmt_mem(peak)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dtype', default='fp32', choices=sorted(DTYPES))
    parser.add_argument('--cases', nargs='+', choices=CASES, default=list(CASES),
                        help='which published shapes to run (default: all)')
    parser.add_argument('--batch', type=int, default=64, help='images of the classification case')
    add_scan_benchmark_options(parser, '--backend')
    args, device, backends = parse_scan_benchmark_options(parser, '--backend')
    print(f'# {machine_line(device)}; inputs {args.dtype}, median of {args.repeats} after a warm-up\n', flush=True)
    table = Table(['case', '(B, D, N, L)', 'backend', 'forward', 'fwd peak mem', 'fwd+bwd', 'fwd+bwd peak mem'],
                  [25, 19, 9, 10, 12, 10, 16])
    for case, shape in published_scan_shapes(args.batch):
        if case.split()[0] not in args.cases:
            continue
        for backend in backends:
            slow = backend == 'reference' and shape[3] > 1000 and not args.full_reference
            table.row([case, str(shape), backend,
                       *bench(backend, shape, device, DTYPES[args.dtype], args.repeats, slow)])


if __name__ == '__main__':
    main()
