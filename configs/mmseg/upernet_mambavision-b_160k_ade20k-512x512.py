# UPerNet with MambaVision-B on ADE20K (160k, 512x512, 16 GPUs x 1 image). Published: 49.1 mIoU.
_base_ = ['./upernet_mambavision-t_160k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch='base',
        # Published config: 0.4, never passed on by its wrapper, so trained with 0.2 (docs/reproduction.md).
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='https://huggingface.co/nvidia/MambaVision-B-1K/resolve/main/mambavision_base_1k.pth.tar')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
