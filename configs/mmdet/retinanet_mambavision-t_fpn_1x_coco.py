# RetinaNet + FPN with MambaVision-T on COCO, 1x: the one-stage row of the comparison tables. No published
# MambaVision accuracy. mmdet's own Swin-T RetinaNet with the backbone swapped; its optimizer is SGD (lr 0.01),
# this one AdamW (lr 1e-4, weight decay 0.05) as every MambaVision detection recipe and the Swin paper use.
_base_ = ['mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py', '../_base_/crash_safe_runtime.py',
          './_base_/mambavision_detection.py']

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(
    # Strides 8, 16, 32 only: stage 1's output is neither normalised nor returned (its blocks still run, stage 2
    # needs them).
    backbone=dict(_delete_=True, **dict(_base_.mambavision_t, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[160, 320, 640]))

optim_wrapper = dict(_delete_=True, type='OptimWrapper', **_base_.adamw)

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Crash-safe training (../_base_/crash_safe_runtime.py): atomic checkpoints and per-sample seeds.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
