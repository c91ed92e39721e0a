# Mask R-CNN + FPN with MambaVision-S on COCO, 1x. No published accuracy (see the T config).
_base_ = ['./mask-rcnn_mambavision-t_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(checkpoint='https://huggingface.co/nvidia/MambaVision-S-1K/resolve/main/mambavision_small_1k.pth.tar')),
    neck=dict(in_channels=[96, 192, 384, 768]))
