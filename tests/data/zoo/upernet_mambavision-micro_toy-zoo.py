# The toy segmentation config with a micro MambaVision (dims 16-128, one block per stage), 32-channel heads and a
# 128x128 test resize: the segmentor of the toy zoo that tools/reproduce.py's tests evaluate in seconds.
_base_ = ['../../../configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py']

model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(arch=None, dim=16, in_dim=16, depths=(1, 1, 1, 1), num_heads=(2, 2, 2, 2), window_size=(8, 8, 8, 4)),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=32),
    auxiliary_head=dict(in_channels=64, channels=16))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=4),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
default_hooks = dict(logger=dict(interval=1))
