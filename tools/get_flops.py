"""Parameters and FLOPs of a detector or segmentor built from a config.

    python tools/get_flops.py CONFIG [--shape H W] [--skip-stock]

Defaults: 800x1280 (HxW) for detection and 512x2048 for segmentation, the sizes the papers quote.
FLOPs are multiply-adds (1 MAC = 1 FLOP, the convention of the published tables), counted on one image
as the model really runs it: windows padded to the window size, RPN proposals as at test time. Counted:
convolutions and linear layers, attention matmuls (QK^T and AV, 2 * B * heads * N^2 * head_dim), and the
selective scan by the common convention 9 * B * L * D * N + B * D * L (its einsum is not counted again).
Normalisation and activations are not counted. The second figure is mmengine's stock counter
(`get_model_complexity_info`), which sees neither scaled_dot_product_attention nor the scan.
"""
import argparse
import contextlib
import copy
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count

import mambavision_backbone.layers as mv_layers
from common import adapt_to_machine


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


def build(config, height, width):
    """(scope, model in eval mode, a random image batch of one, its data samples) from a config or its path."""
    cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmdet')
    for key in ('init_cfg', 'pretrained'):
        cfg.model.backbone.pop(key, None)
    adapt_to_machine(cfg)  # SyncBN -> BN without CUDA
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.structures import DetDataSample as Sample
    else:
        from mmseg.registry import MODELS
        from mmseg.structures import SegDataSample as Sample
    model = MODELS.build(cfg.model).eval()
    shape = (height, width)
    sample = Sample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                                  scale_factor=(1.0, 1.0), padding_size=[0, 0, 0, 0]))
    return scope, model, torch.randn(1, 3, height, width), [sample]


def count_macs(fn, *args):
    """(multiply-adds of fn(*args) with the scan counted by convention, of which the scan, the output)."""
    tally = {'scan': 0}
    with torch.no_grad(), counted_scan(tally), FlopCounterMode(display=False) as counter:
        out = fn(*args)
    return counter.get_total_flops() / 2 + tally['scan'], tally['scan'], out  # the counter counts 2 per MAC


def count_ours(model, inputs, samples):
    """(total MACs, scan MACs, MACs of the backbone, the neck (if any) and the heads)."""
    total, scan, _ = count_macs(model._forward, inputs, samples)
    backbone, _, feats = count_macs(model.backbone, inputs)
    neck = count_macs(model.neck, feats)[0] if getattr(model, 'with_neck', False) else 0
    parts = {'backbone': backbone, 'neck': neck, 'heads': total - backbone - neck}
    return total, scan, parts


def count_stock(model, inputs, samples):
    from mmengine.analysis import get_model_complexity_info
    forward = model.forward
    model.forward = lambda inputs: model._forward(inputs, samples)
    try:
        with torch.no_grad():
            return get_model_complexity_info(model, inputs=(inputs,), show_table=False, show_arch=False)['flops']
    finally:
        model.forward = forward


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default 800 1280 for detection, 512 2048 for segmentation)')
    parser.add_argument('--skip-stock', action='store_true', help="skip mmengine's counter (slow on long scans)")
    args = parser.parse_args()
    if not osp.isfile(args.config):
        parser.error(f'config file {args.config} does not exist')
    scope = Config.fromfile(args.config).get('default_scope', 'mmdet')
    height, width = args.shape or ((800, 1280) if scope == 'mmdet' else (512, 2048))
    scope, model, inputs, samples = build(args.config, height, width)
    params = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    total, scan, parts = count_ours(model, inputs, samples)
    print(f'config:   {args.config}')
    print(f'input:    {height}x{width} (HxW), batch 1')
    print(f'params:   {params / 1e6:.2f} M (backbone {backbone / 1e6:.2f} M)')
    print(f'FLOPs:    {total / 1e9:.1f} G multiply-adds (selective scan {scan / 1e9:.2f} G by 9BLDN + BDL)')
    print('parts:    ' + ', '.join(f'{name} {macs / 1e9:.1f} G' for name, macs in parts.items() if macs))
    if not args.skip_stock:
        print(f"mmengine: {count_stock(model, inputs, samples) / 1e9:.1f} G (stock counter: no attention "
              'matmuls, no scan)')


if __name__ == '__main__':
    main()
