# MambaVision-T Cascade Mask R-CNN on the generated shapes dataset (tools/misc/generate_toy_data.py coco), for
# the demo and the tests: CPU-sized inputs (224x224) and windows (8, 8, 14, 7), no ImageNet weights, three
# classes, a short schedule.
_base_ = ['../cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py']

data_root = 'data/toy_coco/'
# The palette (RGB) is the colour each shape is drawn in.
metainfo = dict(classes=('rectangle', 'ellipse', 'triangle'), palette=[(60, 60, 220), (60, 200, 60), (230, 90, 60)])
image_scale = (224, 224)

# Fewer proposals and sampled RoIs than on COCO, and box and mask heads of 128 channels instead of 256 (the
# heads' convolutions were most of a CPU iteration), keep a CPU iteration short.
num_classes = len(metainfo['classes'])
model = dict(
    backbone=dict(window_size=(8, 8, 14, 7), drop_path_rate=0.1, init_cfg=None),
    roi_head=dict(
        bbox_head=[dict(head, num_classes=num_classes, conv_out_channels=128) for head in _base_.model.roi_head.bbox_head],
        mask_head=dict(num_classes=num_classes, conv_out_channels=128)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=300),
        rcnn=[dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou, min_pos_iou=iou,
                                 match_low_quality=False, ignore_iof_thr=-1),
                   sampler=dict(type='RandomSampler', num=32, pos_fraction=0.25, neg_pos_ub=-1,
                                add_gt_as_proposals=True),
                   mask_size=28, pos_weight=-1, debug=False) for iou in (0.5, 0.6, 0.7)]),
    # The drawn shapes rarely overlap: a stricter NMS than COCO's 0.5 keeps one box per shape.
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100),
                  rcnn=dict(nms=dict(type='nms', iou_threshold=0.3), max_per_img=20)))

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

train_cfg = dict(max_epochs=8, val_interval=8)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8)]
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=4))
