# The toy-zoo segmentor with mmseg's ResNet-18 (V1c) instead of MambaVision: a config whose backbone is not ours,
# for the visualisation tools (ERF of any backbone; attention maps refused).
_base_ = ['../zoo/upernet_mambavision-micro_toy-zoo.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNetV1c', depth=18, out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
