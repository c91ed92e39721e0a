"""Evaluate a trained detector or segmentor: every option of mmdet 3.x's and mmseg 1.x's tools/test.py, with
their meaning for the config's scope; the checkpoint may be a URL (downloaded once, loaded safely)."""
import argparse

from mambavision_backbone.hub import require_checkpoint
from mambavision_mm.apis.launcher import (
    add_test_time_augmentation,
    add_visualization,
    build_runner,
    finish_distributed,
    load_config,
)
from mambavision_tools.cli import exit_on_known_errors, parse_with_common_arguments


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector or segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--out', type=str,
                        help='detection: dump the predictions to a pickle file (.pkl); segmentation: save the '
                             'predicted label maps in this directory (as mmseg does)')
    parser.add_argument('--show', action='store_true', help='show the painted predictions in a window')
    parser.add_argument('--show-dir', help='directory where painted predictions are saved')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays (--show)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (the config\'s tta_model and '
                                                           'tta_pipeline; for detection mmdet\'s flip default)')
    return parse_with_common_arguments(parser)


def main():
    args = parse_args()
    require_checkpoint(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint  # testing never initialises weights, so the ImageNet file is not read
    if args.show or args.show_dir:
        add_visualization(cfg, args.show_dir, args.show, args.wait_time)
    if args.tta:
        add_test_time_augmentation(cfg)
    detection = cfg.get('default_scope') == 'mmdet'
    if args.out and detection:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl or .pickle file')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type='DumpDetResults', out_file_path=args.out)]  # masks as RLE
    elif args.out:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    build_runner(cfg).test()
    finish_distributed()


if __name__ == '__main__':
    exit_on_known_errors(main)
