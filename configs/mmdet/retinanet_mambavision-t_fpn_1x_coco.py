# RetinaNet + FPN with MambaVision-T on COCO, 1x: the one-stage row of the comparison tables. No published
# MambaVision accuracy. mmdet's own Swin-T RetinaNet with the backbone swapped; its optimizer is SGD (lr 0.01),
# this one AdamW (lr 1e-4, weight decay 0.05) as every MambaVision detection recipe and the Swin paper use.
_base_ = ['mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py', '../_base_/crash_safe_runtime.py']

pretrained_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MambaVision',
        arch='tiny',
        window_size=(8, 8, 112, 56),
        drop_path_rate=0.2,
        # Strides 8, 16, 32 only: stage 1's output is neither normalised nor returned (its blocks still run,
        # stage 2 needs them).
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    neck=dict(in_channels=[160, 320, 640]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
