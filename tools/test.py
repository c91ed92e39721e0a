"""Evaluate a trained detector or segmentor (the arguments of mmdet 3.x / mmseg 1.x tools/test.py)."""
import argparse
import os
import os.path as osp

from mambavision_backbone.hub import is_url
from mmengine_plugin.apis.launcher import (add_common_arguments, build_runner, exit_on_checkpoint_errors,
                                           finish_distributed, load_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector or segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--out', help='dump the predictions to a pickle file (.pkl)')
    parser.add_argument('--show-dir', help='directory where painted predictions are saved')
    add_common_arguments(parser)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def add_visualization(cfg, show_dir):
    """Turn on the visualization hook so that every test image is painted into show_dir."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise RuntimeError('--show-dir needs a visualization hook in default_hooks')
    hook.draw = True
    if hook.type == 'SegVisualizationHook':  # mmseg paints through the visualizer's save_dir
        hook.interval = 1
        cfg.visualizer.save_dir = osp.abspath(show_dir)
    else:
        hook.test_out_dir = osp.abspath(show_dir)


def main():
    args = parse_args()
    if not is_url(args.checkpoint) and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint  # testing never initialises weights, so the ImageNet file is not read
    if args.show_dir:
        add_visualization(cfg, args.show_dir)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl or .pickle file')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        # mmdet's test.py writes its file with DumpDetResults (masks as RLE); the same format from ours.
        dump = 'DumpDetResults' if cfg.get('default_scope') == 'mmdet' else 'DumpResults'
        cfg.test_evaluator = [*evaluators, dict(type=dump, out_file_path=args.out)]
    build_runner(cfg).test()
    finish_distributed()


if __name__ == '__main__':
    exit_on_checkpoint_errors(main)
