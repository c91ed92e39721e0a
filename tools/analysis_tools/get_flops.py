"""Parameters and FLOPs of a detector or segmentor built from a config.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--cfg-options KEY=VALUE ...] [--skip-stock]

Default input (HxW): 800x1280 for detection and, for segmentation, the config's test resize (512x2048,
640x2560 for the 640x640 ADE20K recipe), the sizes the papers quote.
FLOPs are multiply-adds (1 MAC = 1 FLOP, the convention of the published tables), counted on one image
as the model really runs it at test time: windows padded to the window size; a two-stage detector's box
heads on test_cfg.rpn.max_per_img proposals and mask heads on test_cfg.rcnn.max_per_img detections; a
segmentor's decode head (the auxiliary head is not run at test time). Counted: convolutions and linear
layers, attention matmuls (QK^T and AV, 2 * B * heads * N^2 * head_dim), and the selective scan by the
common convention 9 * B * L * D * N + B * D * L (its einsum is not counted again). Normalisation,
activations and RoIAlign are not counted. The last line is mmengine's stock counter
(`get_model_complexity_info`) on the same forward: it sees no scaled_dot_product_attention and, of the
scan, only its final einsum (B * L * D * N), but counts normalisation layers.
"""
import argparse

from mmengine.config import DictAction

from mambavision_mm.analysis.flops import build, count_ours, count_stock, measurement_shape
from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.models import read_config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default 800 1280 for detection, the test resize for segmentation)")
    parser.add_argument('--skip-stock', action='store_true', help="skip mmengine's counter (slow on long scans)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.window_size="(8,8,10,5)"')
    args = parser.parse_args()
    try:
        cfg = read_config(args.config, args.cfg_options)
    except InputError as exc:
        parser.error(str(exc))
    height, width = args.shape or measurement_shape(cfg)
    _, model, inputs, _ = build(cfg, height, width)
    params = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    parts, kinds = count_ours(model, inputs)
    print(f'config:   {args.config}' + (f' with {args.cfg_options}' if args.cfg_options else ''))
    print(f'input:    {height}x{width} (HxW), batch 1')
    print(f'params:   {params / 1e6:.2f} M (backbone {backbone / 1e6:.2f} M)')
    print(f'FLOPs:    {sum(parts.values()) / 1e9:.1f} G multiply-adds (attention matmuls '
          f'{kinds["attention"] / 1e9:.2f} G, selective scan {kinds["scan"] / 1e9:.2f} G by 9BLDN + BDL)')
    print('parts:    ' + ', '.join(f'{name} {macs / 1e9:.1f} G' for name, macs in parts.items()))
    if not args.skip_stock:
        print(f"mmengine: {count_stock(model, inputs) / 1e9:.1f} G (stock counter on the same forward: no "
              "attention matmuls, of the scan only its einsum)")


if __name__ == '__main__':
    main()
