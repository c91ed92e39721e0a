# Cascade Mask R-CNN + FPN with MambaVision-T on COCO: 3x schedule, AdamW, AMP, 8 GPUs x 2 images.
# Published: 51.1 box AP / 44.3 mask AP. The recipe (4conv1fc GIoU heads with SyncBN, DETR-style
# multi-scale crop augmentation, 36 epochs with steps at 27 and 33) comes from mmdet's own ConvNeXt config.
_base_ = ['mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
          '../_base_/crash_safe_runtime.py', './_base_/mambavision_detection.py']

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
