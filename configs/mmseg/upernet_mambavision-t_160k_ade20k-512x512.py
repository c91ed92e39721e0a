# UPerNet with MambaVision-T on ADE20K: 160k iterations, 512x512 crops, AdamW, AMP, 16 GPUs x 1 image.
# Published: 46.0 mIoU (whole-image test at (2048, 512), aspect ratio kept).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

# ImageNet-1K classification checkpoint of the backbone, read once when training starts
# (https://huggingface.co/nvidia/MambaVision-T-1K). Set to None to train from scratch.
pretrained_checkpoint = 'checkpoints/mambavision_tiny_1k.pth.tar'

custom_imports = dict(imports=['mmseg_plugin'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='MambaVision',
        arch='tiny',
        window_size=(8, 8, 64, 32),
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    decode_head=dict(in_channels=[80, 160, 320, 640], num_classes=150),
    auxiliary_head=dict(in_channels=320, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# 16 GPUs (2 nodes) x 1 image
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
