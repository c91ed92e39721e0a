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
        bbox_head=[dict(type='ConvFCBBoxHead', num_shared_convs=1, num_shared_fcs=1, in_channels=channels,
                        conv_out_channels=channels, fc_out_channels=64, roi_feat_size=7, num_classes=3,
                        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=stds),
                        reg_class_agnostic=False, reg_decoded_bbox=True,
                        norm_cfg=dict(type='SyncBN', requires_grad=True),
                        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
                   for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])],
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
