# Cascade Mask R-CNN + FPN with MambaVision-T on COCO: 3x schedule, AdamW, AMP, 8 GPUs x 2 images.
# Published: 51.1 box AP / 44.3 mask AP. The recipe (4conv1fc GIoU heads with SyncBN, DETR-style
# multi-scale crop augmentation, 36 epochs with steps at 27 and 33) comes from mmdet's own ConvNeXt config.
_base_ = ['mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
          '../_base_/crash_safe_runtime.py']

# The published ImageNet-1K classification checkpoint of the backbone, downloaded once into torch's hub cache
# and read when training starts (testing never reads it). A local copy instead:
# --cfg-options model.backbone.init_cfg.checkpoint=FILE; None trains from scratch.
pretrained_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MambaVision',
        arch='tiny',
        window_size=(8, 8, 112, 56),
        # Published config: 0.2, also what its wrapper always used (docs/reproduction.md).
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    neck=dict(in_channels=[80, 160, 320, 640]))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='DeviceAwareOptimWrapperConstructor',  # AMP off (logged) where there is no GPU
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Crash-safe training (../_base_/crash_safe_runtime.py): atomic checkpoints and per-sample seeds.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
