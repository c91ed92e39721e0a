# The toy detection config with a micro MambaVision (dims 16-128, one block per stage) and 32-channel heads,
# 128x128 images and no validation: a few-second CPU run for the crash-safe training tests. Everything that
# makes training random (drop path, RoI sampling, flips, shuffling) is kept.
_base_ = ['../zoo/cascade-mask-rcnn_mambavision-micro_toy-zoo.py']  # the micro model

image_scale = (128, 128)
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
