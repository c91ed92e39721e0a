# Mask R-CNN + FPN with MambaVision-T on COCO, 1x schedule (12 epochs, single scale): the setting of the Swin,
# ConvNeXt and VMamba comparison tables. No published MambaVision accuracy: this is mmdet's own Swin-T recipe with
# the backbone swapped, and AdamW, windows and drop path as in the published Cascade Mask R-CNN configs.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', '../_base_/crash_safe_runtime.py']

# ImageNet-1K classification checkpoint of the backbone (https://huggingface.co/nvidia/MambaVision-T-1K);
# None trains from scratch.
pretrained_checkpoint = 'https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'

custom_imports = dict(imports=['mmdet_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MambaVision',
        arch='tiny',
        # One window covers stages 3 and 4 at 1333x800, as in the published detection configs.
        window_size=(8, 8, 112, 56),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint) if pretrained_checkpoint else None),
    neck=dict(in_channels=[80, 160, 320, 640]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # fp32, as mmdet's Swin-T 1x recipe
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Crash-safe training (../_base_/crash_safe_runtime.py): atomic checkpoints and per-sample seeds.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SeededSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
