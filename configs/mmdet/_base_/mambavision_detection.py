# Two values that the MambaVision detection configs share, read there as _base_.mambavision_t and _base_.adamw:
# a key that mmdet's bases set (model, optim_wrapper, custom_imports, ...) may come from one base only, so each
# config sets those itself, from these values.

# MambaVision-T as the published detection configs set it: one attention window covers stages 3 and 4 at
# 1333x800. Its ImageNet-1K classification checkpoint is downloaded once into torch's hub cache and read when
# training starts (testing never reads it); a local copy: --cfg-options model.backbone.init_cfg.checkpoint=FILE.
mambavision_t = dict(
    type='MambaVision',
    arch='tiny',
    window_size=(8, 8, 112, 56),
    # Published config: 0.2, also what its wrapper always used (docs/reproduction.md).
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained',
                  checkpoint='https://huggingface.co/nvidia/MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar'))

# AdamW without weight decay on the norms, as every MambaVision detection recipe (and the Swin paper) uses.
adamw = dict(optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
             paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}))
