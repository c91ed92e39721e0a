# What the published MambaVision UPerNet recipes share: UPerNet on a MambaVision backbone, AdamW without
# decay on norms, AMP, 1500-iteration linear warm-up then poly decay over 160k iterations. Each config
# adds its dataset base, crop size, backbone variant and learning rate.
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py', '../../_base_/crash_safe_runtime.py'
]

custom_imports = dict(imports=['mmseg_plugin'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MambaVision', out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='DeviceAwareOptimWrapperConstructor',  # AMP off (logged) where there is no GPU
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# Crash-safe training (../../_base_/crash_safe_runtime.py): atomic checkpoints; each config sets the
# SeededSampler beside its dataset base.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
