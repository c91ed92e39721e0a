# Mask R-CNN + FPN with MambaVision-B on COCO, 1x. No published accuracy (see the T config).
_base_ = ['./mask-rcnn_mambavision-t_fpn_1x_coco.py']

# ImageNet weights (downloaded once into torch's hub cache); None trains from scratch.
pretrained_checkpoint = 'https://huggingface.co/nvidia/MambaVision-B-1K/resolve/main/mambavision_base_1k.pth.tar'

model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    neck=dict(in_channels=[128, 256, 512, 1024]))
