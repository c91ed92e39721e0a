"""Inference and training-step time of the MambaVision backbone with each selective-scan backend.

    python tools/analysis_tools/benchmark_backbone.py [--device cpu|cuda] [--arch tiny] [--repeats 3]
        [--scan-backend torch reference triton cuda] [--full-reference]

At 224x224, 512x512 and 1280x800 with the windows of the classification, segmentation and detection
configs. The reference backend's backward pass is quadratic in L, so its 1280x800 training step is skipped
unless --full-reference is given (it takes many minutes). The scan alone: benchmark_scan.py.
"""
import argparse

import torch

from mambavision_backbone import MambaVision
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.measure import Table, backbone_train_step, measure
from mambavision_tools.scan_benchmark_options import add_scan_benchmark_options, parse_scan_benchmark_options

MODEL_CASES = [((224, 224), (8, 8, 14, 7)), ((512, 512), (8, 8, 64, 32)), ((800, 1280), (8, 8, 112, 56))]
# Cases whose reference-backend timing would take minutes: (what, size) pairs skipped by default.
SLOW_REFERENCE = {('model-train', (800, 1280))}


def bench_model(arch, backend, size, windows, device, repeats, full_reference):
    model = MambaVision(arch, window_size=windows, scan_backend=backend).to(device)
    x = torch.randn(1, 3, *size, device=device)
    row = [backend, f'{size[1]}x{size[0]}', str(windows)]
    model.eval()

    def infer():
        with torch.no_grad():
            model(x)
    seconds, _ = measure(infer, device, repeats)
    row.append(f'{seconds:.3f} s')
    if backend == 'reference' and ('model-train', size) in SLOW_REFERENCE and not full_reference:
        return row + ['skipped']
    model.train()
    seconds, _ = measure(backbone_train_step(model, x), device, repeats)
    return row + [f'{seconds:.3f} s']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', default='tiny')
    add_scan_benchmark_options(parser, '--scan-backend')
    args, device, backends = parse_scan_benchmark_options(parser, '--scan-backend')
    print(f'# {machine_line(device)}; backends {backends}, median of {args.repeats} after a warm-up', flush=True)
    print(f'\n# MambaVision-{args.arch} backbone, batch 1\n', flush=True)
    table = Table(['backend', 'input (WxH)', 'windows', 'inference', 'training step'], [9, 11, 15, 9, 13])
    for size, windows in MODEL_CASES:
        for backend in backends:
            table.row(bench_model(args.arch, backend, size, windows, device, args.repeats, args.full_reference))


if __name__ == '__main__':
    main()
