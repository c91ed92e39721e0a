# UPerNet with MambaVision-T on ADE20K: 160k iterations, 512x512 crops, AdamW, AMP, 16 GPUs x 1 image.
# Published: 46.0 mIoU (whole-image test at (2048, 512), aspect ratio kept).
_base_ = ['./_base_/upernet_mambavision_160k.py', 'mmseg::_base_/datasets/ade20k.py']

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='tiny',
        window_size=(8, 8, 64, 32),
        # Published config: 0.3, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        # ImageNet-1K weights, downloaded once into torch's hub cache when training starts (testing never reads
        # them); a local copy: --cfg-options model.backbone.init_cfg.checkpoint=FILE.
        init_cfg=dict(type='Pretrained', checkpoint='https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar')),
    decode_head=dict(in_channels=[80, 160, 320, 640], num_classes=150),
    auxiliary_head=dict(in_channels=320, num_classes=150))

# mmseg's ADE20K pipelines with CheckSegLabels after LoadAnnotations: a label outside the 150 classes stops
# the run naming the annotation file (instead of an index error in the loss).
check_labels = dict(type='CheckSegLabels', num_classes=150)
train_pipeline = [*_base_.train_pipeline[:2], check_labels, *_base_.train_pipeline[2:]]
test_pipeline = [*_base_.test_pipeline[:3], check_labels, *_base_.test_pipeline[3:]]

# 16 GPUs (2 nodes) x 1 image
# SeededSampler: per-sample seeds for crash-safe resuming (docs/crash_safe_training.md).
train_dataloader = dict(
    batch_size=1, dataset=dict(pipeline=train_pipeline),
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='InfiniteSampler', shuffle=True)))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
