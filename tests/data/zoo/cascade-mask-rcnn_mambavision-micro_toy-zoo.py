# The toy detection config with a micro MambaVision (dims 16-128, one block per stage), 32-channel heads and
# 128x128 images, tested on the generated shapes: the detector of the toy zoo that tools/reproduce.py's tests
# evaluate in seconds.
_base_ = ['../../../configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py']

channels = 32
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

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
default_hooks = dict(logger=dict(interval=1))
