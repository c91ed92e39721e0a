# UPerNet with MambaVision-S on ADE20K (160k, 512x512, 8 GPUs x 2 images). Published: 48.2 mIoU.
_base_ = ['./upernet_mambavision-t_160k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch='small',
        window_size=(8, 8, 160, 56),
        # Published config: 0.7, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='https://huggingface.co/nvidia/MambaVision-S-1K/resolve/main/mambavision_small_1k.pth.tar')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))

optim_wrapper = dict(optimizer=dict(lr=6e-5))

# 8 GPUs x 2 images
train_dataloader = dict(batch_size=2)
