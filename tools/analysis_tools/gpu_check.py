"""Check this toolbox on a GPU: correctness against references and speed, as one Markdown report.

    python tools/analysis_tools/gpu_check.py [--device cuda|cpu] [--out REPORT.md] [--quick]

Run it after installing on a GPU machine (`make gpu-check`); it installs nothing and finishes in a few minutes on
a data-centre GPU. The report (printed, and written to --out) has the environment, every selective-scan backend
against the float64 reference, the backbone on the GPU against the CPU, AMP training iterations of the toy
configs, two identical short runs compared bit for bit, and speed and memory tables (scan backends, the backbone,
the T Cascade Mask R-CNN and UPerNet beside their Swin-T and ResNet-50 versions). The exit status is 1 when a
check failed. --device cpu runs the same report at small shapes, Triton under its interpreter; --quick leaves
out the model speed table.
"""
import argparse
import os
import sys

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'configs')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=['cuda', 'cpu'], help='default: cuda when a GPU is visible, else cpu')
    parser.add_argument('--out', help='the report (default: work_dirs/gpu_check/report_<device>.md)')
    parser.add_argument('--quick', action='store_true', help='leave out the model speed table')
    args = parser.parse_args()
    import torch
    device_type = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device_type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is visible to torch (python tools/misc/check_env.py says why)')
    if device_type == 'cpu':
        # Triton runs on CPU tensors only under its interpreter, which must be on before triton is imported.
        os.environ.setdefault('TRITON_INTERPRET', '1')
    else:
        # Deterministic cuBLAS for the determinism check: read when cuBLAS starts, so before any GPU work.
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    if args.device is None and device_type == 'cpu':
        print('no CUDA device: running the small CPU check (--device cpu)', flush=True)
    from mambavision_tools.gpu_check import run
    out = args.out or os.path.join('work_dirs', 'gpu_check', f'report_{device_type}.md')
    failures = run(torch.device(device_type), CONFIGS, out, quick=args.quick, echo=lambda line: print(line, flush=True))
    print(f'\nreport written to {out}', flush=True)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
