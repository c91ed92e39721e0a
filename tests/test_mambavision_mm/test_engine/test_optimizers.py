"""DeviceAwareOptimWrapperConstructor: the published AMP recipes on CPU."""

import torch


def test_amp_recipe_builds_a_plain_optimizer_wrapper_on_cpu(mmengine_logs):
    from mmengine.optim import OptimWrapper, build_optim_wrapper
    model = torch.nn.ModuleDict({'fc': torch.nn.Linear(2, 2), 'norm': torch.nn.LayerNorm(2)})
    wrapper = build_optim_wrapper(model, dict(
        type='AmpOptimWrapper', constructor='DeviceAwareOptimWrapperConstructor', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)})))
    assert type(wrapper) is OptimWrapper
    decays = sorted(group['weight_decay'] for group in wrapper.optimizer.param_groups)
    assert decays == [0.0, 0.0, 0.05, 0.05]
    assert 'no CUDA device: automatic mixed precision is switched off (OptimWrapper)' in mmengine_logs
