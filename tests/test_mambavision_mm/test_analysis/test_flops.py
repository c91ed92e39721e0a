"""Counting multiply-adds of the test-time forward."""
import os

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mambavision_backbone import MambaVision
from mambavision_mm.analysis import flops

from ...helpers.paths import ROOT


def test_attention_on_cpu_is_counted():
    q = torch.randn(2, 4, 49, 16)
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() / 2 == 2 * 2 * 4 * 49 * 49 * 16  # QK^T and AV, in multiply-adds


def test_scan_is_counted_by_convention_and_still_computed():
    model = MambaVision('tiny', window_size=(8, 8, 4, 2)).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = model(x)
    tally = {'scan': 0}
    with torch.no_grad(), flops.counted_scan(tally), FlopCounterMode(display=False):
        outputs = model(x)
    for out, ref in zip(outputs, expected):
        torch.testing.assert_close(out, ref)
    # Stage 3: 4x6 map, 4x4 windows -> 4x8 padded: 2 windows of 16 tokens, D = 160, 4 mixer blocks.
    # Stage 4: 2x3 map, 2x2 windows -> 2x4 padded: 2 windows of 4 tokens, D = 320, 2 mixer blocks.
    stage3 = 4 * (9 * 2 * 16 * 160 * 8 + 2 * 160 * 16)
    stage4 = 2 * (9 * 2 * 4 * 320 * 8 + 2 * 320 * 4)
    assert tally['scan'] == stage3 + stage4


def test_measurement_shapes_are_the_published_convention_and_the_test_resize():
    from mmengine.config import Config
    config = Config.fromfile(os.path.join(ROOT, 'configs/mmseg/upernet_mambavision-l3-21k_160k_ade20k-640x640.py'))
    assert flops.measurement_shape(config) == (640, 2560)
    config = Config.fromfile(os.path.join(ROOT, 'configs/mmseg/upernet_mambavision-t_160k_ade20k-512x512.py'))
    assert flops.measurement_shape(config) == (512, 2048)
    config = Config.fromfile(os.path.join(ROOT, 'configs/mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py'))
    assert flops.measurement_shape(config) == (800, 1280)
