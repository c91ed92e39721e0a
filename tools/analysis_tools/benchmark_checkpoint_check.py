"""What checking a checkpoint's bytes (every member's CRC, on every load) costs next to loading it.

    python tools/analysis_tools/benchmark_checkpoint_check.py [--params 780.5] [--repeats 3] [--dir DIR]

Writes a float32 state dict of ``--params`` million parameters (780.5: the UPerNet MambaVision-L3-21K, the
largest file of the zoo) with ``torch.save`` into DIR (a temporary folder by default), then times, each the
median of ``--repeats`` after a warm-up call, with the file in the page cache: the CRC check that every load runs first
(``mambavision_backbone.checkpoint.check_archive``), ``torch.load(weights_only=True)`` alone, and the two
together as ``torch_load`` runs them. The machine heads the output.
"""
import argparse
import os
import tempfile

import torch

from mambavision_backbone.checkpoint import check_archive, torch_load
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.measure import measure


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--params', type=float, default=780.5, help='millions of float32 parameters')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--dir', help='where the file is written (default: a temporary folder, removed after)')
    args = parser.parse_args()
    print(f'# {machine_line(torch.device("cpu"))}', flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = os.path.join(folder, 'checkpoint.pth')
        count, chunk = int(args.params * 1e6), 1 << 24  # tensors of 16 M parameters, as large layers are
        state = {f'w{i}': torch.randn(min(chunk, count - start)) for i, start in enumerate(range(0, count, chunk))}
        torch.save({'state_dict': state}, path)
        del state
        size = os.path.getsize(path)
        print(f'{args.params:g} M float32 parameters: {size / 2**30:.2f} GiB in {len(range(0, count, chunk))} '
              'tensors', flush=True)
        cpu = torch.device('cpu')
        check, _ = measure(lambda: check_archive(path), cpu, args.repeats)
        load, _ = measure(lambda: torch.load(path, map_location='cpu', weights_only=True), cpu, args.repeats)
        both, _ = measure(lambda: torch_load(path), cpu, args.repeats)
    print(f'CRC check: {check:.2f} s ({size / 2**30 / check:.2f} GiB/s)\n'
          f'torch.load(weights_only=True): {load:.2f} s\n'
          f'torch_load (check, then load): {both:.2f} s: the check adds {100 * (both - load) / load:.0f}% '
          f'(median of {args.repeats}, file in the page cache)', flush=True)


if __name__ == '__main__':
    main()
