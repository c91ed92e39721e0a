"""Speed and memory of the selective-scan backends and of the MambaVision backbone built on them.

    python tools/analysis_tools/benchmark_backbone.py [--device cpu|cuda] [--arch tiny] [--repeats 3] [--full-reference]

Prints two tables: the scan alone at (B, D, N, L) = (1, 160, 8, 12544) and (64, 160, 8, 196), and the
backbone's inference and training-step time at 224x224, 512x512 and 1280x800 with each backend. The
reference backend's backward pass is quadratic in L, so its slow cases are skipped unless
--full-reference is given (they take many minutes).
"""
import argparse

import torch

from mambavision_backbone import MambaVision, mamba_ssm_available, selective_scan
from mmengine_plugin.analysis.measure import Table, fmt_mem, measure

SCAN_SHAPES = [(1, 160, 8, 12544), (64, 160, 8, 196)]
MODEL_CASES = [((224, 224), (8, 8, 14, 7)), ((512, 512), (8, 8, 64, 32)), ((800, 1280), (8, 8, 112, 56))]
# Cases whose reference-backend timing would take minutes: (what, size) pairs skipped by default.
SLOW_REFERENCE = {('scan-train', 12544), ('model-train', (800, 1280))}


def scan_inputs(shape, device, requires_grad):
    batch, channels, state, length = shape
    g = torch.Generator().manual_seed(0)
    tensors = dict(u=torch.randn(batch, channels, length, generator=g),
                   delta=torch.randn(batch, channels, length, generator=g),
                   A=-torch.rand(channels, state, generator=g) * 4,
                   B=torch.randn(batch, state, length, generator=g), C=torch.randn(batch, state, length, generator=g),
                   D=torch.randn(channels, generator=g), delta_bias=torch.randn(channels, generator=g))
    return {k: v.to(device).requires_grad_(requires_grad) for k, v in tensors.items()}


def bench_scan(backend, shape, device, repeats, full_reference):
    row = [backend, str(shape)]
    inputs = scan_inputs(shape, device, requires_grad=False)

    def forward():
        with torch.no_grad():
            selective_scan(**inputs, delta_softplus=True, backend=backend)
    seconds, peak = measure(forward, device, repeats)
    row += [f'{seconds * 1e3:.1f} ms', fmt_mem(peak)]
    if backend == 'reference' and ('scan-train', shape[3]) in SLOW_REFERENCE and not full_reference:
        return row + ['skipped', 'skipped']
    leaves = scan_inputs(shape, device, requires_grad=True)

    def train():
        selective_scan(**leaves, delta_softplus=True, backend=backend).sum().backward()
    seconds, peak = measure(train, device, repeats)
    return row + [f'{seconds * 1e3:.1f} ms', fmt_mem(peak)]


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
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        optimizer.zero_grad()
        sum(out.float().mean() for out in model(x)).backward()
        optimizer.step()
    seconds, _ = measure(train_step, device, repeats)
    return row + [f'{seconds:.3f} s']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--full-reference', action='store_true', help='also time the minutes-long reference cases')
    parser.add_argument('--skip-model', action='store_true', help='only the scan table')
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    backends = ['torch', 'reference'] + (['cuda'] if mamba_ssm_available() and device.type == 'cuda' else [])
    print(f'# torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, '
          f'backends {backends}, median of {args.repeats} after a warm-up\n', flush=True)
    table = Table(['backend', '(B, D, N, L)', 'forward', 'fwd peak mem', 'fwd+bwd', 'fwd+bwd peak mem'],
                  [9, 18, 10, 12, 10, 16])
    for shape in SCAN_SHAPES:
        for backend in backends:
            table.row(bench_scan(backend, shape, device, args.repeats, args.full_reference))
    if args.skip_model:
        return
    print(f'\n# MambaVision-{args.arch} backbone, batch 1\n', flush=True)
    table = Table(['backend', 'input (WxH)', 'windows', 'inference', 'training step'], [9, 11, 15, 9, 13])
    for size, windows in MODEL_CASES:
        for backend in backends:
            table.row(bench_model(args.arch, backend, size, windows, device, args.repeats, args.full_reference))


if __name__ == '__main__':
    main()
