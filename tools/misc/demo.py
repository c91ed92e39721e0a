"""`make demo`: MambaVision on generated data, on CPU, through the same tools a researcher uses.

1. The backbone alone: multi-scale features of MambaVision-T on awkward input sizes.
2. Detection: writes a small COCO-format dataset of shapes (data/toy_coco), trains the MambaVision-T
   Cascade Mask R-CNN on it briefly with tools/train.py, evaluates it with tools/test.py (COCO bbox and
   segm tables) and paints the predictions into demo_output/detection/.
3. Segmentation: the same for UPerNet on an ADE20K-layout dataset (data/toy_ade): mIoU, mAcc, aAcc and
   the per-class table, with colour-blended predictions in demo_output/segmentation/.

    python tools/demo.py [--det-epochs 10] [--seg-iters 30] [--skip-detection] [--skip-segmentation]
"""
import argparse
import os
import subprocess
import sys
import time

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)
from mambavision_backbone import MambaVision, resolve_backend  # noqa: E402

DET_CONFIG = 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py'
SEG_CONFIG = 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py'


def backbone_demo():
    print(f'== backbone: torch {torch.__version__}, {torch.get_num_threads()} CPU threads, '
          f'scan backend {resolve_backend(None, torch.device("cpu"))!r}', flush=True)
    for task, windows, size in (('detection', (8, 8, 112, 56), (333, 500)),
                                ('segmentation', (8, 8, 64, 32), (512, 683))):
        model = MambaVision('tiny', window_size=windows).eval()
        start = time.perf_counter()
        with torch.no_grad():
            feats = model(torch.randn(1, 3, *size))
        shapes = ', '.join(str(tuple(f.shape[1:])) for f in feats)
        print(f'MambaVision-T for {task}, windows {windows}, input {size[1]}x{size[0]}: {shapes} '
              f'({time.perf_counter() - start:.2f} s)', flush=True)


def run(step, args):
    print(f'\n== {step}\n$ {" ".join(args)}', flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def detection_demo(epochs):
    work_dir = 'work_dirs/demo_detection'
    run('generating the shapes dataset', ['tools/generate_coco.py', 'data/toy_coco', '--train', '8', '--val', '4'])
    run(f'training MambaVision-T Cascade Mask R-CNN for {epochs} epochs on CPU',
        ['tools/train.py', DET_CONFIG, '--work-dir', work_dir, '--cfg-options', f'train_cfg.max_epochs={epochs}',
         f'train_cfg.val_interval={epochs}', 'default_hooks.logger.interval=4'])
    run('evaluating with tools/test.py (COCO bbox and segm)',
        ['tools/test.py', DET_CONFIG, f'{work_dir}/epoch_{epochs}.pth', '--work-dir', f'{work_dir}/test',
         '--show-dir', os.path.join(ROOT, 'demo_output/detection')])
    painted = os.path.join(ROOT, 'demo_output/detection')
    print(f'\npredicted boxes and masks painted beside the ground truth in {painted}', flush=True)


def segmentation_demo(iters):
    work_dir = 'work_dirs/demo_segmentation'
    run('generating the ADE20K-layout shapes dataset', ['tools/generate_ade20k.py', 'data/toy_ade'])
    run(f'training MambaVision-T UPerNet for {iters} iterations on CPU',
        ['tools/train.py', SEG_CONFIG, '--work-dir', work_dir, '--cfg-options', f'train_cfg.max_iters={iters}',
         f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters}',
         f'param_scheduler.1.end={iters}'])
    painted = os.path.join(ROOT, 'demo_output/segmentation')
    run('evaluating with tools/test.py (mIoU, mAcc, aAcc, per-class IoU)',
        ['tools/test.py', SEG_CONFIG, f'{work_dir}/iter_{iters}.pth', '--work-dir', f'{work_dir}/test',
         '--show-dir', painted])
    print(f'\npredictions blended over the images (beside the ground truth) in {painted}', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--det-epochs', type=int, default=10)
    parser.add_argument('--seg-iters', type=int, default=30)
    parser.add_argument('--skip-detection', action='store_true')
    parser.add_argument('--skip-segmentation', action='store_true')
    args = parser.parse_args()
    backbone_demo()
    if not args.skip_detection:
        detection_demo(args.det_epochs)
    if not args.skip_segmentation:
        segmentation_demo(args.seg_iters)


if __name__ == '__main__':
    main()
