# UPerNet with MambaVision-L3 (ImageNet-21K, 512px) on ADE20K: 160k iterations, 640x640 crops, no AMP
# (unstable for L3), 16 GPUs x 1 image. Published: 53.2 mIoU (whole-image test at (2560, 640)).
_base_ = ['./_base_/upernet_mambavision_160k.py', 'mmseg::_base_/datasets/ade20k_640x640.py']

# https://huggingface.co/nvidia/MambaVision-L3-512-21K; None trains from scratch.
pretrained_checkpoint = 'checkpoints/mambavision_L3_21k_740m_512.pth.tar'

crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='l3',
        window_size=(8, 8, 64, 32),
        # Published config: 0.8, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], num_classes=150),
    auxiliary_head=dict(in_channels=1024, num_classes=150))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=8e-5, weight_decay=0.05))

# 16 GPUs (2 nodes) x 1 image
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
