"""Train a detector or segmentor from a config (the arguments of mmdet 3.x / mmseg 1.x tools/train.py)."""
import argparse

from mambavision_mm.apis import launcher
from mambavision_tools.cli import exit_on_known_errors, parse_with_common_arguments


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the LR by the total batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in the work dir')
    return parse_with_common_arguments(parser)


def main():
    args = parse_args()
    cfg = launcher.load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    launcher.train(launcher.build_runner(cfg))
    launcher.finish_distributed()


if __name__ == '__main__':
    exit_on_known_errors(main)
