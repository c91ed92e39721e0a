# The toy segmentation config with a micro MambaVision (dims 16-128, one block per stage) and 32-channel heads,
# 128x128 crops and no validation: a few-second CPU run for the crash-safe training tests. Everything that
# makes training random (drop path, dropout, random resize/crop/flip, shuffling) is kept.
_base_ = ['../zoo/upernet_mambavision-micro_toy-zoo.py']  # the micro model

crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=4),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
max_iters = 12
train_cfg = dict(max_iters=max_iters, val_interval=100)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=4, end=max_iters, by_epoch=False),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
