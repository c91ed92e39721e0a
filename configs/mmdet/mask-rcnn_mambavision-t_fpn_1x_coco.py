# Mask R-CNN + FPN with MambaVision-T on COCO, 1x schedule (12 epochs, single scale): the setting of the Swin,
# ConvNeXt and VMamba comparison tables. No published MambaVision accuracy: this is mmdet's own Swin-T recipe with
# the backbone swapped, and AdamW, windows and drop path as in the published Cascade Mask R-CNN configs.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', '../_base_/crash_safe_runtime.py',
          './_base_/mambavision_detection.py']

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, **_base_.mambavision_t), neck=dict(in_channels=[80, 160, 320, 640]))

optim_wrapper = dict(_delete_=True, type='OptimWrapper', **_base_.adamw)  # fp32, as mmdet's Swin-T 1x recipe

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Crash-safe training (../_base_/crash_safe_runtime.py): atomic checkpoints and per-sample seeds.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
