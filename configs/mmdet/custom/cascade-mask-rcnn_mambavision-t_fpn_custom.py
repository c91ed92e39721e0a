# Cascade Mask R-CNN + FPN with MambaVision-T on your own data in COCO format: instance segmentation (boxes with
# polygons or RLE masks) or, with with_masks = False, boxes only (Cascade R-CNN; the usual export of labelling
# tools, segmentations, if present, not used). Set the variables of this first block; nothing below it needs an
# edit. Walk-through: docs/custom_data.md.
data_root = 'data/my_dataset/'
with_masks = True                       # False for boxes-only data
classes = ('class_a', 'class_b')        # the category names of the JSON, in the order of the model's outputs
train_ann = 'annotations/train.json'    # paths relative to data_root
train_img = 'train/'
val_ann = 'annotations/val.json'
val_img = 'val/'
# Start from a trained detector (e.g. the published COCO one: the heads of another class count are
# re-initialised and, without masks, its mask heads left out, with one line saying which), or None to start
# from the ImageNet backbone alone.
load_from = 'https://huggingface.co/nvidia/cascade_mask_rcnn_mamba_vision_tiny_3x_coco/resolve/main/cascade_mask_rcnn_mamba_vision_tiny_3x_coco.pth'
backbone_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'   # used when load_from is None
max_epochs = 12
img_scale = (1333, 800)                 # images are resized to fit (longer side, shorter side), ratio kept
batch_size = 2                          # images per GPU
layer_decay = None                      # e.g. 0.9: layer-wise learning-rate decay (docs/fine_tuning.md); None: one rate
ema = False                             # True: also an average of the weights, evaluated and saved as the model
# --------------------------------------------------------------------------------------------------------------
_base_ = ['../cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py']

num_classes = len(classes)
metainfo = dict(classes=classes)
# Stages 3 and 4 see the whole image in one attention window, as in the published configs: one window of
# the largest padded feature map (stride 16 and 32 of the image padded to a multiple of 32).
tokens_at_stride_32 = -(-max(img_scale) // 32)
model = dict(
    backbone=dict(
        window_size=(8, 8, 2 * tokens_at_stride_32, tokens_at_stride_32),
        # frozen_stages=1 keeps the stem and stage 1 as loaded (less memory; often better on a few hundred
        # images); -1 trains everything, as the published recipes do.
        frozen_stages=-1,
        init_cfg=None if load_from else dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    roi_head=dict(
        bbox_head=[dict(head, num_classes=num_classes) for head in _base_.model.roi_head.bbox_head],
        **(dict(mask_head=dict(num_classes=num_classes)) if with_masks
           else dict(mask_roi_extractor=None, mask_head=None))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=with_masks),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.0), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=with_masks),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=batch_size, num_workers=2,
    dataset=dict(_delete_=True, type='CocoDataset', data_root=data_root, metainfo=metainfo, ann_file=train_ann,
                 data_prefix=dict(img=train_img), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2,
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo, ann_file=val_ann,
                 data_prefix=dict(img=val_img), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + val_ann, metric=['bbox', 'segm'] if with_masks else 'bbox')
test_evaluator = val_evaluator

# One GPU x batch_size images; the published learning rate (1e-4 for 16 images) is scaled to the real batch
# (GPUs x batch_size) when training starts. Layer-wise decay multiplies it per layer (docs/fine_tuning.md).
auto_scale_lr = dict(enable=True, base_batch_size=16)
optim_wrapper = dict(
    constructor='MambaVisionLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=layer_decay, decay_type='layer_wise', num_layers=16)) if layer_decay else {}
# The average lags the trained weights by about 1 / momentum iterations.
custom_hooks = _base_.custom_hooks + ([dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
                                            update_buffers=True, priority=49)] if ema else [])
train_cfg = dict(max_epochs=max_epochs, val_interval=1)   # evaluated after every epoch
param_scheduler = [
    # warm-up over the first epoch, whatever the size of the dataset
    dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[max_epochs * 3 // 4, max_epochs * 11 // 12], gamma=0.1),
]
# The best checkpoint by mask AP (box AP without masks) is kept beside the last two.
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2, rule='greater',
                                     save_best='coco/segm_mAP' if with_masks else 'coco/bbox_mAP'))
