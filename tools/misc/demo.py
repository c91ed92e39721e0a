"""`make demo`: MambaVision-T detection and segmentation trained and evaluated on generated data, on CPU.

    python tools/misc/demo.py [--det-epochs 8] [--seg-iters 40] [--skip-detection] [--skip-segmentation]

Each stage runs the same tools a researcher uses (tools/train.py, tools/test.py, tools/infer.py) and shows a
few lines of progress; their full logs go to work_dirs/demo/*.log. The painted predictions go to
demo_output/, and a summary at the end says what was trained on what, the metrics and what to try next.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import mmdet
import torch
import yaml

from mambavision_backbone import MambaVision
from mambavision_mm.testing import generate_ade20k, generate_coco

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DET_CONFIG = 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py'
SEG_CONFIG = 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py'
WORK = 'work_dirs/demo'
OUT = 'demo_output'


def run(step, args, show):
    """Run ``python ARGS`` in the repository, its output into a log file; print the lines ``show`` keeps."""
    log_path = os.path.join(WORK, f'{step}.log')
    print(f'  $ python {" ".join(args)}   (log: {log_path})', flush=True)
    start = time.perf_counter()
    lines = []
    with open(os.path.join(ROOT, log_path), 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
        for line in process.stdout:
            log.write(line)
            lines.append(line)
            shown = show(line)
            if shown:
                print(f'    {shown}', flush=True)
    if process.wait() != 0:
        print(''.join(lines[-30:]), file=sys.stderr)
        sys.exit(f'{step} failed (exit {process.returncode}); full log: {log_path}')
    return ''.join(lines), time.perf_counter() - start


def training_progress(unit):
    """Shows one line per logged training step: where it is, the loss and the time per step."""
    pattern = re.compile(r'(Epoch|Iter)\(train\) +\[([^\]]+)\](?:\[([^\]]+)\])?.*?time: ([0-9.]+).*? loss: ([0-9.]+)')

    def show(line):
        match = pattern.search(line)
        if match:
            where = f'{unit} {match.group(2)}' + (f', step {match.group(3)}' if match.group(3) else '')
            return f'{where}: loss {float(match.group(5)):.3f}, {float(match.group(4)):.1f} s/step'
    return show


def metrics_line(trigger, names):
    """Shows the named metrics of the line that reports ``trigger``."""
    def show(line):
        if f'{trigger}:' in line:
            return ', '.join(f'{name} {metric(line, name):g}' for name in names)
    return show


def metric(text, name):
    found = re.findall(rf'{re.escape(name)}: ([0-9.\-]+)', text)
    return float(found[-1]) if found else float('nan')


def backbone_check():
    print('== 1. The backbone on odd-sized inputs (windows larger than the feature maps are padded once)',
          flush=True)
    for task, windows, size in (('detection', (8, 8, 112, 56), (333, 500)),
                                ('segmentation', (8, 8, 64, 32), (512, 683))):
        model = MambaVision('tiny', window_size=windows).eval()
        with torch.no_grad():
            feats = model(torch.randn(1, 3, *size))
        print(f'  {task} windows {windows}, input {size[1]}x{size[0]} -> '
              + ', '.join('x'.join(map(str, f.shape[1:])) for f in feats), flush=True)


def train_test_and_paint(task, title, generator, data, images, config, train_options, unit, checkpoint_name,
                         trigger, metrics):
    """Generate 16 training and 8 validation images into ``data`` with ``generator``, train ``config`` on them
    from scratch, evaluate its last checkpoint and paint the validation ``images`` with it; returns the training
    time, the named metrics, the checkpoint and the folder of painted images."""
    print(f'\n== {title} from scratch on CPU', flush=True)
    generator(os.path.join(ROOT, data), train=16, val=8)
    print(f'  generated {data}: 16 training and 8 validation images', flush=True)
    work = os.path.join(WORK, task)
    # No validation during training: tools/test.py evaluates the same checkpoint on the same images next.
    _, seconds = run(f'{task}_train', ['tools/train.py', config, '--work-dir', work, '--cfg-options', *train_options,
                                       'randomness.seed=0'], training_progress(unit))
    checkpoint = os.path.join(work, checkpoint_name)
    text, _ = run(f'{task}_test', ['tools/test.py', config, checkpoint, '--work-dir', work],
                  metrics_line(trigger, metrics))
    painted = os.path.join(OUT, task)
    run(f'{task}_infer', ['tools/infer.py', config, checkpoint, f'{data}/{images}', '--out-dir', painted],
        lambda line: line.strip() if line.startswith('wrote') else None)
    return dict(seconds=seconds, checkpoint=checkpoint, painted=os.path.join(painted, 'vis'),
                **{name: metric(text, name) for name in metrics})


def detection(epochs):
    """Cascade Mask R-CNN on drawn rectangles, ellipses and triangles (data/toy_coco, where the config looks)."""
    return train_test_and_paint(
        'detection', f'2. Detection: Cascade Mask R-CNN, MambaVision-T, {epochs} epochs', generate_coco,
        'data/toy_coco', 'val2017', DET_CONFIG,
        [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_begin={epochs + 1}',
         f'default_hooks.checkpoint.interval={epochs}', 'default_hooks.logger.interval=8'],
        'epoch', f'epoch_{epochs}.pth', 'coco/bbox_mAP',
        ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'])


def segmentation(iters):
    """UPerNet on images whose every pixel is background or a shape (data/toy_ade, where the config looks)."""
    return train_test_and_paint(
        'segmentation', f'3. Segmentation: UPerNet, MambaVision-T, {iters} iterations', generate_ade20k,
        'data/toy_ade', 'images/validation', SEG_CONFIG,
        [f'train_cfg.max_iters={iters}', f'train_cfg.val_begin={iters + 1}',
         f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=10',
         f'param_scheduler.1.end={iters}'],
        'iteration', f'iter_{iters}.pth', 'mIoU', ['aAcc', 'mIoU', 'mAcc'])


def write_zoo(det, seg) -> str:
    """The demo's models as a model zoo (OpenMMLab's model-index schema), their test metrics as the published
    figures, rounded as papers round them: what tools/reproduce.py reproduces. Returns the index's path."""
    models = []
    if det:
        models.append(dict(Name='demo-cascade-mask-rcnn', Config=os.path.relpath(DET_CONFIG, WORK),
                           Weights=os.path.join(ROOT, det['checkpoint']),
                           Results=[dict(Task='Object Detection', Dataset='COCO', Metrics={
                               'box AP': round(100 * det['coco/bbox_mAP'], 1),
                               'mask AP': round(100 * det['coco/segm_mAP'], 1)})]))
    if seg:
        models.append(dict(Name='demo-upernet', Config=os.path.relpath(SEG_CONFIG, WORK),
                           Weights=os.path.join(ROOT, seg['checkpoint']),
                           Results=[dict(Task='Semantic Segmentation', Dataset='ADE20K',
                                         Metrics={'mIoU': round(seg['mIoU'], 1)})]))
    index = os.path.join(WORK, 'model-index.yml')
    with open(os.path.join(ROOT, index), 'w') as f:
        yaml.safe_dump(dict(Models=models), f, sort_keys=False)
    return index


def summary(det, seg):
    print('\n== Summary', flush=True)
    if det:
        print(f"  Detection: MambaVision-T Cascade Mask R-CNN trained {det['seconds'] / 60:.1f} min on 16 generated "
              f"images; on 8 held-out images box AP {det['coco/bbox_mAP']:.3f} (AP50 "
              f"{det['coco/bbox_mAP_50']:.3f}), mask AP {det['coco/segm_mAP']:.3f}. Pictures: {det['painted']}/",
              flush=True)
    if seg:
        print(f"  Segmentation: MambaVision-T UPerNet trained {seg['seconds'] / 60:.1f} min on 16 generated images; "
              f"on 8 held-out images mIoU {seg['mIoU']:.2f}, aAcc {seg['aAcc']:.2f}. Pictures: {seg['painted']}/",
              flush=True)
    print('  These models start from random weights and see a few minutes of CPU; the published models start '
          'from ImageNet weights and train for days on GPUs.\n  Next:', flush=True)
    if det:
        print(f"    python tools/infer.py {DET_CONFIG} {det['checkpoint']} YOUR_IMAGES --out-dir out", flush=True)
    print(f"    python {os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')} CONFIG   "
          "(mmdet's own tools work too)\n    the published recipes and how to train or evaluate them: "
          'docs/openmmlab.md', flush=True)
    if det or seg:
        index = write_zoo(det, seg)
        print(f'  The demo\'s models as a model zoo, their metrics as its published table: {index}. Reproduce it '
              'as the published tables are reproduced (every model evaluated again, a verdict per row):\n'
              f'    python tools/reproduce.py --index {index} --work-dir {WORK}/reproduce', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--det-epochs', type=int, default=8)
    parser.add_argument('--seg-iters', type=int, default=40)
    parser.add_argument('--skip-detection', action='store_true')
    parser.add_argument('--skip-segmentation', action='store_true')
    args = parser.parse_args()
    if args.seg_iters <= 5 or args.det_epochs < 1:
        parser.error('--seg-iters must be above 5 (the schedule warms up for 5 iterations), --det-epochs at least 1')
    os.makedirs(os.path.join(ROOT, WORK), exist_ok=True)
    start = time.perf_counter()
    backbone_check()
    det = None if args.skip_detection else detection(args.det_epochs)
    seg = None if args.skip_segmentation else segmentation(args.seg_iters)
    summary(det, seg)
    print(f'  (demo took {(time.perf_counter() - start) / 60:.1f} min)', flush=True)


if __name__ == '__main__':
    main()
