# UPerNet with MambaVision-T on the generated shapes dataset (tools/misc/generate_toy_data.py ade20k), for the
# demo and the tests: 256x256 crops, windows (8, 8, 16, 8), no ImageNet weights, a short schedule. Every
# pixel has a class: label 0 is a real "background" class here (no reduce_zero_label, unlike ADE20K).
_base_ = ['../upernet_mambavision-t_160k_ade20k-512x512.py']

data_root = 'data/toy_ade/'
# The palette (RGB) is the colour each shape is drawn in, so that a correct prediction keeps the shape's hue.
metainfo = dict(classes=('background', 'rectangle', 'ellipse', 'triangle'),
                palette=[[40, 40, 40], [60, 60, 220], [60, 200, 60], [230, 90, 60]])
crop_size = (256, 256)
num_classes = len(metainfo['classes'])

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(window_size=(8, 8, 16, 8), drop_path_rate=0.1, init_cfg=None),
    # Half of UPerNet's 512 channels (128 in the auxiliary head): the decode head at a quarter of the input's
    # resolution was three quarters of a CPU iteration.
    decode_head=dict(num_classes=num_classes, channels=256),
    auxiliary_head=dict(num_classes=num_classes, channels=128))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(320, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 256), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=False)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=test_pipeline,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
test_dataloader = val_dataloader

max_iters = 40
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=5, end=max_iters, by_epoch=False),
]
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(by_epoch=False, interval=max_iters))
