# UPerNet with MambaVision-L3 (ImageNet-21K, 512px) on ADE20K: 160k iterations, 640x640 crops, no AMP
# (unstable for L3), 16 GPUs x 1 image. Published: 53.2 mIoU (whole-image test at (2560, 640)).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', 'mmseg::_base_/datasets/ade20k_640x640.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

# https://huggingface.co/nvidia/MambaVision-L3-512-21K; None trains from scratch.
pretrained_checkpoint = 'checkpoints/mambavision_L3_21k_740m_512.pth.tar'

custom_imports = dict(imports=['mmseg_plugin'], allow_failed_imports=False)

crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='MambaVision',
        arch='l3',
        window_size=(8, 8, 64, 32),
        drop_path_rate=0.8,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], num_classes=150),
    auxiliary_head=dict(in_channels=1024, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=8e-5, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# 16 GPUs (2 nodes) x 1 image
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
