"""The backbones MambaVision is compared with (Swin-T and ResNet-50, as mmdet's and mmseg's own configs set
them), swapped into the same detector or segmentor."""
import copy

# Backbones swapped in for comparison, with the channels of their four outputs.
COUNTERPARTS = {
    'Swin-T': (dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                    window_size=7, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.2, patch_norm=True,
                    out_indices=(0, 1, 2, 3)), [96, 192, 384, 768]),
    'ResNet-50': (dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                       norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True, style='pytorch'),
                  [256, 512, 1024, 2048]),
}


def swap_backbone(cfg, backbone, channels):
    """The same model with another backbone (its neck/decode head fed the new channels)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone = backbone
    if 'neck' in cfg.model:
        cfg.model.neck.in_channels = channels
    else:
        cfg.model.decode_head.in_channels = channels
        if 'auxiliary_head' in cfg.model:
            cfg.model.auxiliary_head.in_channels = channels[2]
    return cfg
