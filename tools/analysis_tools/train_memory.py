"""Plan the peak training memory of one GPU before launching: parameters, gradients, optimizer state,
activations (per part of the model), transients and what the step adds, and what fits.

    python tools/analysis_tools/train_memory.py CONFIG [--batch N] [--amp fp16|bf16|none] [--with-cp]
        [--frozen-stages K] [--scan-backend cuda|triton|torch] [--shape H W] [--num-gt N] [--gpus N]
        [--fit GB] [--out FILE.json] [--cfg-options ...]

Defaults are the config's: its batch per GPU, crop, AMP and backbone settings; the mamba-ssm kernel; 8 GPUs
(DDP's buckets). Detection plans at 800x1333 with 20 objects per image unless --shape/--num-gt say otherwise:
the mask heads' targets grow with the objects and the image. --fit GB prints the cheapest change of AMP,
gradient checkpointing, frozen stages and batch that fits. Figures are GiB; --out writes them in bytes.
"""
import argparse

from mmengine.config import DictAction

from mambavision_mm.analysis.memory_tracking import SCAN_STAND_INS
from mambavision_mm.analysis.train_memory import AMP_CHOICES, Setting
from mambavision_mm.apis.models import read_config
from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.train_memory import report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, help='images per GPU (default: the config\'s)')
    parser.add_argument('--amp', help=f'one of {", ".join(AMP_CHOICES)} (default: the config\'s optim_wrapper)')
    parser.add_argument('--with-cp', action='store_true', default=None, help='gradient checkpointing of every block')
    parser.add_argument('--frozen-stages', type=int, help='-1 (none) .. 4')
    parser.add_argument('--scan-backend', default='cuda', help=f'one of {", ".join(SCAN_STAND_INS)} (default: cuda)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: the crop)')
    parser.add_argument('--num-gt', type=int, default=20, help='objects per image (detection)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs in the run (more than 1: DDP buckets)')
    parser.add_argument('--fit', type=float, metavar='GB', help='find the cheapest setting that fits this card')
    parser.add_argument('--out', help='write the figures in bytes to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        cfg = read_config(args.config, args.cfg_options)
        setting = Setting(batch=args.batch, amp=args.amp, with_cp=args.with_cp, frozen_stages=args.frozen_stages,
                          scan_backend=args.scan_backend, shape=args.shape, num_gt=args.num_gt, gpus=args.gpus)
        print('\n'.join(report(cfg, setting, args.fit, args.out)))
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
