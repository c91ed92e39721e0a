"""Time the PyTorch RoIAlign and NMS (mambavision_mm.ops) against mmcv's compiled kernels, in the same run.

    python tools/analysis_tools/benchmark_mmcv_ops.py [--device cpu|cuda] [--repeats N] [--skip-model]

At the shapes Cascade Mask R-CNN uses: RoI feature extraction of 512 RoIs x 256 channels from four FPN levels
of an 800x1280 image (mmdet's SingleRoIExtractor, 7x7 box and 14x14 mask features, forward and
forward+backward), NMS of 1,000 to 10,000 proposal-like boxes, and a whole training step (forward and
backward) and inference of the MambaVision-T Cascade Mask R-CNN at 800x1280. Each row runs both kernels by
switching what mmcv's op wrappers call; without compiled mmcv only ours is timed. Medians of ``--repeats``
runs after a warm-up, synchronised on CUDA; the CPU model and thread count head the table.
"""
import argparse
import contextlib
import importlib
import os

import torch

import mambavision_mm.ops.mmcv_ext as pytorch_ops
from mambavision_mm import compiled_mmcv_ops  # importing the plugin installs the PyTorch ops where needed
from mambavision_mm.analysis.environment import machine_line
from mambavision_mm.analysis.flops import random_rois
from mambavision_mm.analysis.measure import Table, measure

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DETECTOR = os.path.join(ROOT, 'configs/mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py')
HEIGHT, WIDTH = 800, 1280
STRIDES = (4, 8, 16, 32)


def kernels():
    """{name: the module mmcv's RoIAlign and NMS wrappers call}: compiled mmcv where installed, and ours."""
    found = {}
    if compiled_mmcv_ops():
        import mmcv._ext
        found['mmcv compiled'] = mmcv._ext
    found['PyTorch (ours)'] = pytorch_ops
    return found


@contextlib.contextmanager
def calling(ext):
    """mmcv's RoIAlign and NMS wrappers call ``ext`` in the block."""
    # The modules, not the functions of the same names that mmcv.ops exports.
    modules = [importlib.import_module(f'mmcv.ops.{name}') for name in ('roi_align', 'nms')]
    saved = [m.ext_module for m in modules]
    for module in modules:
        module.ext_module = ext
    try:
        yield
    finally:
        for module, original in zip(modules, saved):
            module.ext_module = original


def roi_extraction(device, output_size, backward):
    """mmdet's SingleRoIExtractor over four FPN levels of an 800x1280 image, 512 RoIs of 256 channels."""
    from mmdet.registry import MODELS
    extractor = MODELS.build(dict(type='SingleRoIExtractor', out_channels=256, featmap_strides=list(STRIDES),
                                  roi_layer=dict(type='RoIAlign', output_size=output_size, sampling_ratio=0)))
    features = [torch.randn(1, 256, HEIGHT // s, WIDTH // s, device=device, requires_grad=backward)
                for s in STRIDES]
    rois = random_rois(512, HEIGHT, WIDTH).to(device)

    def run():
        out = extractor(features, rois)
        if backward:
            out.sum().backward()
    return run


def proposals(count, device):
    """``count`` RPN-like boxes of one image (many overlapping) with random scores."""
    generator = torch.Generator().manual_seed(count)
    centre = torch.rand(count // 20 + 1, 2, generator=generator) * torch.tensor([WIDTH, HEIGHT])
    centre = centre.repeat_interleave(20, 0)[:count] + torch.randn(count, 2, generator=generator) * 20
    size = torch.rand(count, 2, generator=generator) * 200 + 16
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
    return boxes.to(device), torch.rand(count, generator=generator).to(device)


def detector(device):
    """The MambaVision-T Cascade Mask R-CNN (no ImageNet file) and an 800x1280 batch of one with 5 objects."""
    from mmdet.testing import demo_mm_inputs
    from mmengine.config import Config

    from mambavision_mm.apis.models import build_model
    model = build_model(Config.fromfile(DETECTOR)).to(device)
    packed = demo_mm_inputs(1, [[3, HEIGHT, WIDTH]], num_items=[5], num_classes=80, with_mask=True)
    data = model.data_preprocessor(packed, True)
    return model, data['inputs'], data['data_samples']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per row (the whole model: a third)')
    parser.add_argument('--skip-model', action='store_true', help='time the ops only, not the whole detector')
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    found = kernels()
    print(f'# mmcv ops on {machine_line(device)}\n', flush=True)
    names = list(found)
    table = Table(['what', 'shape', *[f'{n} ms' for n in names], 'ours / compiled'],
                  [34, 30, *[max(len(n) + 3, 12) for n in names], 15])
    rows = [(f'RoI features {s}x{s}' + (' fwd+bwd' if b else ''), '512 RoIs x 256 ch, 4 levels',
             roi_extraction(device, s, b), args.repeats) for s in (7, 14) for b in (False, True)]
    for count in (1000, 2000, 5000, 10000):
        boxes, scores = proposals(count, device)

        def run(boxes=boxes, scores=scores):
            from mmcv.ops import nms
            nms(boxes, scores, 0.7)
        rows.append(('NMS, IoU 0.7', f'{count} boxes', run, args.repeats))
    if not args.skip_model:
        model, inputs, samples = detector(device)

        def train_step():
            losses = model.loss(inputs, samples)
            sum(v.sum() if torch.is_tensor(v) else sum(v) for k, v in losses.items() if 'loss' in k).backward()
            model.zero_grad(set_to_none=True)

        def inference():
            with torch.no_grad():
                model.predict(inputs, samples)
        repeats = max(args.repeats // 3, 1)
        rows += [('T Cascade Mask R-CNN train step', f'1 x {HEIGHT}x{WIDTH}, fwd+bwd', train_step, repeats),
                 ('T Cascade Mask R-CNN inference', f'1 x {HEIGHT}x{WIDTH}', inference, repeats)]
    for what, shape, fn, repeats in rows:
        seconds = []
        for name in names:
            with calling(found[name]):
                seconds.append(measure(fn, device, repeats)[0])
        ratio = f'{seconds[-1] / seconds[0]:.2f}x' if len(seconds) == 2 else 'n/a'
        table.row([what, shape, *[f'{1000 * s:.1f}' for s in seconds], ratio])


if __name__ == '__main__':
    main()
