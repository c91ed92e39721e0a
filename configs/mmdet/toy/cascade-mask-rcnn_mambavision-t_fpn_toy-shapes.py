# MambaVision-T Cascade Mask R-CNN on the generated shapes dataset (tools/generate_coco.py), for the demo
# and the tests: CPU-sized inputs (320x256) and windows (8, 8, 14, 7), no ImageNet weights, a short schedule.
# The heads keep their 80 COCO outputs; the dataset uses the first three.
_base_ = ['../cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py']

data_root = 'data/toy_coco/'
metainfo = dict(classes=('rectangle', 'ellipse', 'triangle'), palette=[(220, 60, 60), (60, 200, 60), (60, 90, 230)])
image_scale = (320, 256)

model = dict(backbone=dict(window_size=(8, 8, 14, 7), drop_path_rate=0.1, init_cfg=None))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=4, val_interval=4)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8)]
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=2))
