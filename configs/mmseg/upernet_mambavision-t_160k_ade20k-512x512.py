# UPerNet with MambaVision-T on ADE20K: 160k iterations, 512x512 crops, AdamW, AMP, 16 GPUs x 1 image.
# Published: 46.0 mIoU (whole-image test at (2048, 512), aspect ratio kept).
_base_ = ['./_base_/upernet_mambavision_160k.py', 'mmseg::_base_/datasets/ade20k.py']

# The published ImageNet-1K classification checkpoint of the backbone, downloaded once into torch's hub cache
# and read when training starts (testing never reads it). A local copy instead:
# --cfg-options model.backbone.init_cfg.checkpoint=FILE; None trains from scratch.
pretrained_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='tiny',
        window_size=(8, 8, 64, 32),
        # Published config: 0.3, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    decode_head=dict(in_channels=[80, 160, 320, 640], num_classes=150),
    auxiliary_head=dict(in_channels=320, num_classes=150))

# mmseg's ADE20K pipelines with CheckSegLabels after LoadAnnotations: a label outside the 150 classes stops
# the run naming the annotation file (instead of an index error in the loss).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=150),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=150),
    dict(type='PackSegInputs')
]

# 16 GPUs (2 nodes) x 1 image
# SeededSampler: per-sample seeds for crash-safe resuming (docs/crash_safe_training.md).
train_dataloader = dict(
    batch_size=1, dataset=dict(pipeline=train_pipeline),
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='InfiniteSampler', shuffle=True)))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
