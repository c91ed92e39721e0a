# The toy detection config with a micro MambaVision (dims 16-128, one block per stage) and 32-channel heads,
# 128x128 images and no validation: a few-second CPU run for the crash-safe training tests. Everything that
# makes training random (drop path, RoI sampling, flips, shuffling) is kept.
_base_ = ['../../../configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py']

channels = 32
image_scale = (128, 128)
model = dict(
    backbone=dict(arch=None, dim=16, in_dim=16, depths=(1, 1, 1, 1), num_heads=(2, 2, 2, 2), window_size=(8, 8, 8, 4)),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=[dict(head, num_shared_convs=1, in_channels=channels, conv_out_channels=channels, fc_out_channels=64)
                   for head in _base_.model.roi_head.bbox_head],
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(num_convs=1, in_channels=channels, conv_out_channels=channels)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_epochs=3, val_interval=100)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
