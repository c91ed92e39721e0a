"""Step time of the fine-tuning levers, as ratios to a plain training step of the MambaVision backbone.

    python tools/analysis_tools/benchmark_levers.py [--arch tiny] [--shape 512 512] [--windows 8 8 64 32]
        [--device cpu|cuda] [--repeats 5]

Gradient checkpointing (every block's forward runs again in backward), frozen stages (no gradients for the stem
and the first stages) and an EMA update of the weights after each step (mmengine's ExponentialMovingAverage).
The ratios depend little on the device where the step is compute-bound; AMP is a GPU lever and is not measured
on CPU. Layer-wise learning-rate decay costs nothing at run time (learning rates per parameter group).
"""
import argparse

import torch
from mmengine.model import ExponentialMovingAverage

from mambavision_backbone import MambaVision
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.measure import Table, backbone_train_step, measure_interleaved

SETTINGS = [('plain', {}), ('gradient checkpointing', dict(with_cp=True)), ('frozen stages 1', dict(frozen_stages=1)),
            ('frozen stages 2', dict(frozen_stages=2)), ('EMA update', {})]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--windows', type=int, nargs=4, default=(8, 8, 64, 32), help='window_size per stage')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5, help='rounds (one step of every setting each)')
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error('--repeats must be at least 1')
    device = torch.device(args.device)
    print(machine_line(device))
    print(f'MambaVision-{args.arch} backbone, one image {args.shape[0]}x{args.shape[1]}, windows {args.windows}, '
          'AdamW step, fp32; the settings timed in turn, median of the rounds after a warm-up round')
    x = torch.randn(1, 3, *args.shape, device=device)
    steps = []
    for name, options in SETTINGS:
        torch.manual_seed(0)
        model = MambaVision(args.arch, window_size=tuple(args.windows), drop_path_rate=0.0, **options).to(device)
        model.train()
        step = backbone_train_step(model, x)
        if name == 'EMA update':
            average = ExponentialMovingAverage(model, momentum=0.0002)

            def step(train_step=step, average=average, model=model):
                train_step()
                average.update_parameters(model)
        steps.append(step)
    seconds = measure_interleaved(steps, device, args.repeats)
    table = Table(['lever', 'step (s)', 'ratio to plain'], [24, 9, 14])
    for (name, _), step_seconds in zip(SETTINGS, seconds):
        table.row([name, f'{step_seconds:.2f}', f'{step_seconds / seconds[0]:.2f}'])


if __name__ == '__main__':
    main()
