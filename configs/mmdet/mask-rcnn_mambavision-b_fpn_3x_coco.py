# Mask R-CNN + FPN with MambaVision-B on COCO, 3x. No published accuracy (see the T config).
_base_ = ['./mask-rcnn_mambavision-t_fpn_3x_coco.py']

model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(checkpoint='https://huggingface.co/nvidia/MambaVision-B-1K/resolve/main/mambavision_base_1k.pth.tar')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
