# UPerNet with MambaVision-T on your own semantic-segmentation data: images and label PNGs in folders, one
# label value per class (0 .. len(classes) - 1) and 255 for pixels to ignore. Set the variables of this first
# block; nothing below it needs an edit. Walk-through: docs/custom_data.md.
data_root = 'data/my_dataset/'
classes = ('background', 'class_a', 'class_b')   # class i is label value i
train_img, train_labels = 'images/train/', 'labels/train/'   # paths relative to data_root
val_img, val_labels = 'images/val/', 'labels/val/'
img_suffix, seg_map_suffix = '.jpg', '.png'        # image a.jpg has its labels in a.png
# Start from a trained segmentor (e.g. the published ADE20K one: the classifiers of another class count are
# re-initialised, with one line saying which), or None to start from the ImageNet backbone alone.
load_from = 'https://huggingface.co/nvidia/mamba_vision_160k_ade20k-512x512_tiny/resolve/main/mamba_vision_160k_ade20k-512x512_tiny.pth'
backbone_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'   # used when load_from is None
max_iters = 20000
val_interval = 2000                      # iterations between evaluations (and checkpoints)
crop_size = (512, 512)                   # training crops; test images are resized to crop height, ratio kept
batch_size = 2                           # images per GPU
layer_decay = None                       # e.g. 0.9: layer-wise learning-rate decay (docs/fine_tuning.md); None: one rate
ema = False                              # True: also an average of the weights, evaluated and saved as the model
# --------------------------------------------------------------------------------------------------------------
_base_ = ['../upernet_mambavision-t_160k_ade20k-512x512.py']

num_classes = len(classes)
metainfo = dict(classes=classes)
# Windows of the published T config at 512x512, scaled with the crop: an eighth and a sixteenth of its side.
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        window_size=(8, 8, -(-max(crop_size) // 8), -(-max(crop_size) // 16)),
        # frozen_stages=1 keeps the stem and stage 1 as loaded (less memory; often better on a few hundred
        # images); -1 trains everything, as the published recipes do.
        frozen_stages=-1,
        init_cfg=None if load_from else dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))

test_scale = (4 * crop_size[1], crop_size[0])   # as ADE20K's (2048, 512) for 512 crops
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=test_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix=img_suffix,
               seg_map_suffix=seg_map_suffix, reduce_zero_label=False)
train_dataloader = dict(
    batch_size=batch_size, num_workers=2,
    dataset=dict(_delete_=True, **dataset, data_prefix=dict(img_path=train_img, seg_map_path=train_labels),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2,
    dataset=dict(_delete_=True, **dataset, data_prefix=dict(img_path=val_img, seg_map_path=val_labels),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# One GPU x batch_size images; the published learning rate (5e-5 for 16 images) is scaled to the real batch
# (GPUs x batch_size) when training starts. Layer-wise decay multiplies it per layer (docs/fine_tuning.md).
auto_scale_lr = dict(enable=True, base_batch_size=16)
optim_wrapper = dict(
    constructor='MambaVisionLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=layer_decay, decay_type='layer_wise', num_layers=16)) if layer_decay else {}
# The average lags the trained weights by about 1 / momentum iterations.
custom_hooks = _base_.custom_hooks + ([dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0002,
                                            update_buffers=True, priority=49)] if ema else [])
warmup_iters = max(1, min(1500, max_iters // 10))   # 1500 as published, shorter for short runs
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters, end=max_iters, by_epoch=False),
]
# A checkpoint at every evaluation; the best by mIoU is kept beside the last two.
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=val_interval, max_keep_ckpts=2, save_best='mIoU',
                                     rule='greater'))
