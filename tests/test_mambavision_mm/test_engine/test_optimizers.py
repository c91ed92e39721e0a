"""DeviceAwareOptimWrapperConstructor (the published AMP recipes on CPU) and MambaVisionLayerDecayOptimizerConstructor
(learning rates per layer as mmdet's and mmseg's LearningRateDecayOptimizerConstructor sets them, with the published
recipes' custom_keys kept)."""
import os

import pytest
import torch

import mambavision_mm.engine  # noqa: F401 (registers the constructors, as a config's custom_imports does)

from ...helpers.paths import DATA


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

SEG = os.path.join(DATA, 'zoo/upernet_mambavision-micro_toy-zoo.py')
DET = os.path.join(DATA, 'zoo/cascade-mask-rcnn_mambavision-micro_toy-zoo.py')
DEPTHS = (1, 1, 2, 2)  # 6 blocks: layer ids 0 (stem) .. 6, heads 7


def layer_decay_optimizer(config, num_layers=6, decay_type='layer_wise', depths=DEPTHS):
    from mmengine.optim import build_optim_wrapper

    from mambavision_mm.apis.models import build_model, read_config
    cfg = read_config(config, {'model.backbone.depths': depths})
    model = build_model(cfg)
    wrapper = build_optim_wrapper(model, dict(
        type='AmpOptimWrapper', constructor='MambaVisionLayerDecayOptimizerConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(decay_rate=0.5, decay_type=decay_type, num_layers=num_layers,
                           custom_keys={'norm': dict(decay_mult=0.0)})))
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(g['params'][0])]: (g['lr'], g['weight_decay']) for g in wrapper.optimizer.param_groups}


def test_learning_rates_by_layer_as_computed_by_hand():
    lrs = layer_decay_optimizer(SEG)
    by_hand = {  # 1e-3 * 0.5 ** (6 + 1 - layer id)
        'backbone.patch_embed.conv_down.0.weight': (1e-3 / 2 ** 7, 0.05),        # stem: 0
        'backbone.levels.0.blocks.0.conv1.weight': (1e-3 / 2 ** 6, 0.05),        # block 1
        'backbone.levels.0.downsample.reduction.0.weight': (1e-3 / 2 ** 6, 0.05),  # with stage 1's last block
        'backbone.outnorm0.weight': (1e-3 / 2 ** 6, 0.0),                          # with it too; no decay (norm)
        'backbone.levels.1.blocks.0.conv2.bias': (1e-3 / 2 ** 5, 0.05),          # block 2
        'backbone.levels.2.blocks.0.mixer.A_log': (1e-3 / 2 ** 4, 0.05),         # block 3
        'backbone.levels.2.blocks.1.norm1.weight': (1e-3 / 2 ** 3, 0.0),         # block 4, a norm
        'backbone.levels.2.downsample.reduction.0.weight': (1e-3 / 2 ** 3, 0.05),
        'backbone.levels.3.blocks.1.mlp.fc2.weight': (1e-3 / 2 ** 1, 0.05),      # block 6
        'backbone.outnorm3.bias': (1e-3 / 2 ** 1, 0.0),
        'decode_head.conv_seg.weight': (1e-3, 0.05),                              # heads: 7, scale 1
        'auxiliary_head.conv_seg.bias': (1e-3, 0.05),
    }
    for name, (lr, decay) in by_hand.items():
        assert lrs[name] == (pytest.approx(lr, rel=1e-12), decay), name


def test_every_backbone_parameter_has_a_layer_id_monotone_with_depth():
    from mambavision_mm.engine.optimizers import layer_id
    lrs = layer_decay_optimizer(DET)
    ids = {name: layer_id(name, DEPTHS) for name in lrs}
    assert all(ids[n] == 7 for n in ids if not n.startswith('backbone.'))
    stage_ranges = [(1, 1), (2, 2), (3, 4), (5, 6)]
    for name, i in ids.items():
        if name.startswith('backbone.levels.'):
            low, high = stage_ranges[int(name.split('.')[2])]
            assert low <= i <= high, (name, i)
            if '.blocks.' in name:
                assert i == low + int(name.split('.')[4])
    for name, (lr, _) in lrs.items():
        assert lr == pytest.approx(1e-3 * 0.5 ** (7 - ids[name]), rel=1e-12), name


def test_stage_wise_decay():
    lrs = layer_decay_optimizer(SEG, num_layers=4, decay_type='stage_wise')
    assert lrs['backbone.patch_embed.conv_down.0.weight'][0] == pytest.approx(1e-3 / 2 ** 5)
    assert lrs['backbone.levels.2.blocks.1.mlp.fc1.weight'][0] == pytest.approx(1e-3 / 2 ** 2)
    assert lrs['backbone.outnorm3.weight'][0] == pytest.approx(1e-3 / 2)
    assert lrs['decode_head.conv_seg.weight'][0] == pytest.approx(1e-3)


@pytest.mark.parametrize('num_layers, decay_type, message', [
    (16, 'layer_wise', 'num_layers must be 6 for this backbone with layer_wise decay, its block count '
                       '(depths (1, 1, 2, 2)); got 16'),
    (6, 'stage_wise', 'num_layers must be 4 for this backbone with stage_wise decay, its stage count; got 6'),
    (6, 'vit_wise', "decay_type must be one of ('layer_wise', 'stage_wise'); got 'vit_wise'"),
])
def test_wrong_settings_are_one_line(num_layers, decay_type, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        layer_decay_optimizer(SEG, num_layers=num_layers, decay_type=decay_type)


def test_other_backbones_are_refused():
    with pytest.raises(ValueError, match='needs a MambaVision backbone; the model has ResNetV1c'):
        from mmengine.optim import build_optim_wrapper

        from mambavision_mm.apis.models import build_model, read_config
        model = build_model(read_config(os.path.join(DATA, 'configs/upernet_resnet18-micro_toy-zoo.py')))
        build_optim_wrapper(model, dict(constructor='MambaVisionLayerDecayOptimizerConstructor',
                                        optimizer=dict(type='AdamW', lr=1e-3),
                                        paramwise_cfg=dict(decay_rate=0.9, num_layers=16)))
