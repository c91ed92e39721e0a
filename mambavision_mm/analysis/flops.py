"""Multiply-adds of detectors and segmentors as they run at test time (tools/analysis_tools/get_flops.py).

Counted: convolutions and linear layers (torch's FlopCounterMode), attention matmuls (QK^T and AV, taught to
the counter for the CPU kernel), and the selective scan by the common convention 9 * B * L * D * N + B * D * L.
A two-stage detector's box heads run on test_cfg.rpn.max_per_img proposals and its mask heads on
test_cfg.rcnn.max_per_img detections; a segmentor's decode head only. mmengine's stock counter on the same
forward is available for comparison (``count_stock``).
"""
import contextlib
import functools
from typing import Tuple

import torch
from mmengine.config import Config
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count

import mambavision_backbone.layers as mv_layers

from ..apis.models import build_model, test_resize


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    """The CPU kernel of scaled_dot_product_attention, unknown to torch's counter: same formula as on GPU."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


@contextlib.contextmanager
def counted_scan(tally):
    """Run the real scan unseen by the FLOP counter and add its conventional cost to ``tally``."""
    real_scan = mv_layers.selective_scan

    def scan(u, delta, A, B, C, *args, **kwargs):
        batch, channels, length = u.shape
        tally['scan'] += 9 * batch * length * channels * A.shape[1] + batch * channels * length
        with _disable_current_modes():
            return real_scan(u, delta, A, B, C, *args, **kwargs)

    mv_layers.selective_scan = scan
    try:
        yield
    finally:
        mv_layers.selective_scan = real_scan


def build(cfg: Config, height: int, width: int):
    """(scope, model in eval mode, a random image batch of one, its data samples) from a config."""
    scope = cfg.get('default_scope', 'mmdet')
    model = build_model(cfg).eval()
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample as Sample
    else:
        from mmseg.structures import SegDataSample as Sample
    shape = (height, width)
    sample = Sample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                                  scale_factor=(1.0, 1.0), padding_size=[0, 0, 0, 0]))
    return scope, model, torch.randn(1, 3, height, width), [sample]


def count_macs(fn, *args):
    """(output of fn(*args), its multiply-adds by operator kind: 'scan', 'attention', 'other')."""
    tally = {'scan': 0}
    with torch.no_grad(), counted_scan(tally), FlopCounterMode(display=False) as counter:
        out = fn(*args)
    by_op = counter.get_flop_counts()['Global']  # 2 FLOPs per multiply-add
    attention = sum(n for op, n in by_op.items() if 'scaled_dot_product' in str(op)) // 2
    return out, {'scan': tally['scan'], 'attention': attention,
                 'other': counter.get_total_flops() // 2 - attention}


def random_rois(num, height, width):
    """`num` RoIs of image 0 (rows: 0, x1, y1, x2, y2): random boxes inside a height x width image."""
    generator = torch.Generator().manual_seed(0)
    size = torch.tensor([width, height])
    corner = torch.rand(num, 2, generator=generator) * size * 0.7
    extent = (torch.rand(num, 2, generator=generator) * 0.25 + 0.05) * size
    return torch.cat([torch.zeros(num, 1), corner, corner + extent], dim=1)


def stage_forwards(roi_head, name):
    """The per-stage `_bbox_forward`/`_mask_forward` of a cascade RoI head (one stage for a standard one)."""
    forward = getattr(roi_head, name)
    stages = getattr(roi_head, 'num_stages', None)
    return [forward] if stages is None else [functools.partial(forward, stage) for stage in range(stages)]


def test_time_forward(model, inputs, part=lambda name, fn, *args: fn(*args)):
    """The test-time forward of a segmentor or detector without post-processing, part by part.

    ``part(name, fn, *args)`` runs ``fn(*args)`` and may count it. A two-stage detector runs its box heads on
    ``test_cfg.rpn.max_per_img`` proposals and its mask heads on ``test_cfg.rcnn.max_per_img`` detections,
    the most its predict step computes (as mmdet 2.x's FLOP tool did; mmdet 3.x's tensor mode instead runs
    the mask heads on every proposal).
    """
    feats = part('backbone', model.backbone, inputs)
    if getattr(model, 'with_neck', False):
        feats = part('neck', model.neck, feats)
    if hasattr(model, 'decode_head'):
        return part('decode head', model.decode_head, feats)
    if not (getattr(model, 'with_rpn', False) and getattr(model, 'with_roi_head', False)):
        if hasattr(model, 'bbox_head'):
            return part('head', model.bbox_head, feats)
        raise ValueError(f'{type(model).__name__}: only segmentors, two-stage and single-stage detectors '
                         'are supported')
    outputs = part('rpn head', model.rpn_head, feats)
    roi_head = model.roi_head
    rois = random_rois(model.test_cfg.rpn.max_per_img, *inputs.shape[-2:])
    for forward in stage_forwards(roi_head, '_bbox_forward'):
        outputs += tuple(part(f'box heads ({len(rois)} RoIs)', forward, feats, rois).values())
    if roi_head.with_mask:
        mask_rois = rois[:model.test_cfg.rcnn.max_per_img]
        for forward in stage_forwards(roi_head, '_mask_forward'):
            outputs += (part(f'mask heads ({len(mask_rois)} RoIs)', forward, feats, mask_rois)['mask_preds'], )
    return outputs


def count_ours(model, inputs):
    """Multiply-adds of the test-time forward: {part: MACs} and {'scan'/'attention'/'other': MACs}."""
    parts, kinds = {}, {'scan': 0, 'attention': 0, 'other': 0}

    def count(name, fn, *args):
        out, macs = count_macs(fn, *args)
        parts[name] = parts.get(name, 0) + sum(macs.values())
        for kind, n in macs.items():
            kinds[kind] += n
        return out

    test_time_forward(model, inputs, count)
    return parts, kinds


def count_stock(model, inputs):
    """mmengine's stock count (jit trace) of the same test-time forward."""
    from mmengine.analysis import get_model_complexity_info
    forward = model.forward
    model.forward = lambda inputs: test_time_forward(model, inputs)
    try:
        with torch.no_grad():
            return get_model_complexity_info(model, inputs=(inputs,), show_table=False, show_arch=False)['flops']
    finally:
        model.forward = forward


def measurement_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W) that FLOPs and speed are quoted at for the config's model: 800x1280 for detection (the size
    published detection FLOPs use); for segmentation the short x long edge of the test resize (512x2048 for
    ADE20K), 512x2048 without one."""
    if cfg.get('default_scope', 'mmdet') == 'mmdet':
        return 800, 1280
    resize = test_resize(cfg)
    return (min(resize['scale']), max(resize['scale'])) if resize else (512, 2048)
