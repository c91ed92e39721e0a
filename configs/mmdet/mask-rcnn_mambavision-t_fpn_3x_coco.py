# Mask R-CNN + FPN with MambaVision-T on COCO, 3x schedule (36 epochs, multi-scale crop, AMP): the second setting
# of the comparison tables. No published MambaVision accuracy: mmdet's own Swin-T 3x recipe with the backbone
# swapped (see the 1x config).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_amp-ms-crop-3x_coco.py', '../_base_/crash_safe_runtime.py',
          './_base_/mambavision_detection.py']

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, **_base_.mambavision_t), neck=dict(in_channels=[80, 160, 320, 640]))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='DeviceAwareOptimWrapperConstructor',  # AMP off (logged) where there is no GPU
    **_base_.adamw)

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Crash-safe training (../_base_/crash_safe_runtime.py): atomic checkpoints and per-sample seeds.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
