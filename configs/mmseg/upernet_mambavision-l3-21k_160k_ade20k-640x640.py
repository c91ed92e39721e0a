# UPerNet with MambaVision-L3 (ImageNet-21K, 512px) on ADE20K: 160k iterations, 640x640 crops, no AMP
# (unstable for L3), 16 GPUs x 1 image. Published: 53.2 mIoU (whole-image test at (2560, 640)).
_base_ = ['./_base_/upernet_mambavision_160k.py', 'mmseg::_base_/datasets/ade20k_640x640.py']

crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='l3',
        window_size=(8, 8, 64, 32),
        # Published config: 0.8, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint='https://huggingface.co/nvidia/MambaVision-L3-512-21K/resolve/main/mambavision_L3_21k_740m_512.pth.tar')),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], num_classes=150),
    auxiliary_head=dict(in_channels=1024, num_classes=150))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=8e-5, weight_decay=0.05))

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
