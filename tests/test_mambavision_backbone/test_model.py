"""The backbone: published layout, numerics against an independent reference, options, mixed precision."""

import pytest
import torch

from mambavision_backbone import ARCH_ALIASES, ARCH_SETTINGS, MambaVision, attention_block_indices, load_pretrained
from mambavision_backbone.layers import Attention, DropPath, MambaVisionMixer

from .. import reference_model
from ..helpers.checkpoints import SMALL, randomize, read_listing, shapes


def reference_outputs(model, x):
    settings = model.arch_settings
    return reference_model.forward(x, model.state_dict(), settings['depths'], settings['num_heads'],
                                   settings['window_size'], model.out_indices)


@pytest.mark.parametrize('variant, arch', [('t', 'tiny'), ('b', 'b')])
def test_state_dict_matches_published_layout(variant, arch):
    listing = read_listing(variant)
    assert shapes(MambaVision(arch).state_dict()) == listing


@pytest.mark.parametrize('arch, millions', [('t', 31.15), ('s', 49.37), ('b', 96.66), ('l3', 737.53)])
def test_parameter_counts_match_published_backbones(arch, millions):
    with torch.device('meta'):
        model = MambaVision(arch)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == millions


def test_attention_block_indices():
    assert list(attention_block_indices(8)) == [4, 5, 6, 7]
    assert list(attention_block_indices(7)) == [4, 5, 6]
    assert list(attention_block_indices(1)) == []
    model = MambaVision('s')
    uses_attention = [isinstance(b.mixer, Attention) for b in model.levels[2].blocks]
    assert uses_attention == [False, False, False, False, True, True, True]


@pytest.mark.parametrize('size', [(37, 53), (9, 5), (1, 1)])
def test_matches_independent_reference_in_float64(size):
    model = randomize(MambaVision(**SMALL).double()).eval()
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outs = model(x)
    expected = reference_outputs(model, x)
    assert len(outs) == 4
    for out, ref in zip(outs, expected):
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)


def test_tiny_matches_reference():
    """MambaVision-T; at this input its windows (14, 7) are larger than the stage-3/4 maps (3x5, 2x3)."""
    model = randomize(MambaVision('tiny').double()).eval()
    x = torch.randn(1, 3, 45, 70, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        outs = model(x)
    for out, ref in zip(outs, reference_outputs(model, x)):
        torch.testing.assert_close(out, ref, rtol=1e-8, atol=1e-8)


def test_padding_is_part_of_the_behaviour():
    """Unmasked padding: the same weights with another window size give other features."""
    model = randomize(MambaVision(**SMALL)).eval()
    other = MambaVision(**dict(SMALL, window_size=(8, 8, 5, 4))).eval()
    other.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 40, 44)
    with torch.no_grad():
        assert not torch.allclose(model(x)[2], other(x)[2])


@pytest.mark.parametrize('size', [(1, 1), (1, 7), (33, 2), (224, 224), (97, 131)])
def test_any_input_size_gives_strided_shapes(size):
    model = MambaVision('tiny', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for i, out in enumerate(outs):
        h, w = size
        for _ in range(i + 2):  # every stride-2 convolution maps n to ceil(n / 2)
            h, w = (h + 1) // 2, (w + 1) // 2
        assert out.shape == (1, model.dims[i], h, w)


def test_out_indices_select_outputs_and_norms():
    model = MambaVision('tiny', out_indices=(1, 3)).eval()
    assert [n for n, _ in model.named_children() if n.startswith('outnorm')] == ['outnorm1', 'outnorm3']
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [160, 640]


@pytest.mark.parametrize('out_indices', [(0, 1, 2), (1, 2, 3), (0,), (2,)])
def test_out_indices_build_and_run_only_what_the_outputs_need(out_indices):
    """Stages after the last output and that stage's downsampling are not built; the maps equal the full model's;
    every parameter gets a gradient (DDP's find_unused_parameters=False needs it)."""
    full = MambaVision('tiny', window_size=(8, 8, 4, 2)).eval()
    model = MambaVision('tiny', window_size=(8, 8, 4, 2), out_indices=out_indices).eval()
    last = max(out_indices)
    assert len(model.levels) == last + 1 and model.levels[last].downsample is None
    assert all(level.downsample is not None for level in model.levels[:last])
    result = model.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert all(k.startswith(tuple(f'levels.{i}' for i in range(last + 1, 4)) + (f'levels.{last}.downsample',
                                                                                 'outnorm'))
               for k in result.unexpected_keys)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = full(x)
    outs = model(x)
    assert len(outs) == len(out_indices)
    for out, i in zip(outs, out_indices):
        torch.testing.assert_close(out, expected[i], rtol=0, atol=0)
    model.train()
    sum(out.square().mean() for out in model(x)).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_a_full_checkpoint_loads_into_a_cut_backbone_in_one_line(tmp_path, package_logs):
    path = str(tmp_path / 'full.pth')
    torch.save(MambaVision('tiny').state_dict(), path)
    load_pretrained(MambaVision('tiny', out_indices=(0, 1)), path)
    summary, = [m for m in package_logs if m.startswith('loaded ')]
    assert summary.endswith('missing: none; not in this model: levels.1.downsample (1 tensor), levels.2 '
                            '(117 tensors), levels.3 (58 tensors), outnorm2 (2 tensors), outnorm3 (2 tensors)')


def test_explicit_arguments_override_the_arch():
    model = MambaVision('b', layer_scale=None, window_size=(8, 8, 64, 32), depths=(1, 1, 2, 2))
    assert model.arch_settings['dim'] == 128
    assert not any('gamma' in k for k in model.state_dict())
    assert model.levels[2].window_size == 64 and len(model.levels[3].blocks) == 2
    assert MambaVision('base').arch_settings == MambaVision('b').arch_settings
    with torch.device('meta'):
        large3 = MambaVision('large3')  # the published MambaVision-L3: dim 256, depths 3, 3, 20, 10
    assert (large3.arch_settings['dim'], large3.arch_settings['depths']) == (256, (3, 3, 20, 10))


def test_every_arch_is_complete_and_aliases_name_it():
    # A variant's settings are exactly what its entry says: nothing added or overwritten afterwards.
    for name, setting in ARCH_SETTINGS.items():
        built = MambaVision(name, depths=(1, 1, 2, 2)).arch_settings
        assert {k: v for k, v in built.items() if k != 'depths'} == {
            k: v for k, v in setting.items() if k not in ('aliases', 'depths')}, name
    assert ARCH_ALIASES == {'tiny': 't', 'tiny2': 't2', 'small': 's', 'base': 'b', 'large': 'l', 'large2': 'l2',
                            'large3': 'l3'}
    assert ARCH_SETTINGS['b']['window_size'] == (8, 8, 14, 7) and ARCH_SETTINGS['l3']['mlp_ratio'] == 4.0


def test_an_arch_given_as_a_dict_builds_that_model():
    essential = {k: ARCH_SETTINGS['t'][k] for k in ('dim', 'in_dim', 'depths', 'num_heads', 'window_size')}
    model = MambaVision(dict(essential, depths=(1, 1, 2, 2)))
    assert model.arch_settings == dict(essential, depths=(1, 1, 2, 2), mlp_ratio=4.0, layer_scale=None)
    reference = MambaVision('t', depths=(1, 1, 2, 2))
    assert shapes(model.state_dict()) == shapes(reference.state_dict())
    scaled = MambaVision(dict(essential, layer_scale=1e-5, mlp_ratio=2.0), depths=(1, 1, 2, 2))
    assert any(k.endswith('gamma_1') for k in scaled.state_dict())
    assert scaled.levels[2].blocks[0].mlp.fc1.out_features == 2 * scaled.dims[2]


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='huge'), "unknown MambaVision arch 'huge'"),
    (dict(depths=(1, 3, 8)), 'one entry per stage'),
    (dict(num_heads=(2, 4, 7, 16)), 'divisible by its num_heads'),
    (dict(arch=None, dim=80), "needs \\['in_dim', 'depths', 'num_heads', 'window_size'\\]"),
    (dict(arch=dict(dim=80, depths=(1, 1, 2, 2))), r"missing \['in_dim', 'num_heads', 'window_size'\], unknown \[\]"),
    (dict(arch=dict(dim=80, in_dim=32, depths=(1, 1, 2, 2), num_heads=(2, 4, 8, 16), window_size=(8, 8, 14, 7),
                    mlp=4)), r"missing \[\], unknown \['mlp'\]"),
    (dict(out_indices=(0, 4)), 'out_indices'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
    (dict(frozen_stages=7), 'frozen_stages'),
    (dict(init_cfg=dict(type='Kaiming')), 'init_cfg must be'),
])
def test_invalid_hyper_parameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MambaVision(**kwargs)


@pytest.mark.parametrize('x, message', [
    (torch.randn(3, 32, 32), r'expects a \(B, 3, H, W\) tensor; got \(3, 32, 32\)'),
    (torch.randn(1, 4, 32, 32), 'expects 3 input channels; got 4'),
    (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), 'floating-point'),
    (torch.randn(0, 3, 32, 32), 'non-empty batch'),
    (torch.randn(1, 3, 0, 32), 'H, W >= 1'),
])
def test_bad_input_raises_value_error(x, message):
    with pytest.raises(ValueError, match=message):
        MambaVision('tiny')(x)


def test_drop_rates_reach_the_model():
    model = MambaVision('tiny', drop_path_rate=0.3, drop_rate=0.1, attn_drop_rate=0.2)
    probs = [m.drop_prob for m in model.modules() if isinstance(m, DropPath)]
    assert len(probs) == 16 and probs[0] == 0.0 and probs[-1] == pytest.approx(0.3)
    assert all(m.attn_drop == 0.2 for m in model.modules() if isinstance(m, Attention))
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = MambaVision('tiny', drop_path_rate=0.5, drop_rate=0.3, attn_drop_rate=0.5, window_size=(8, 8, 4, 2))
    clean = MambaVision('tiny', drop_path_rate=0.0, window_size=(8, 8, 4, 2))
    clean.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    model.eval(), clean.eval()
    with torch.no_grad():
        for a, b in zip(model(x), clean(x)):
            torch.testing.assert_close(a, b)
        model.train()
        assert not torch.allclose(model(x)[3], model(x)[3])


def test_frozen_stages_stay_frozen_across_train():
    model = MambaVision('tiny', frozen_stages=2)
    model.train()
    frozen = [model.patch_embed, model.levels[0], model.levels[1], model.outnorm0, model.outnorm1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen for m in m.modules())
    assert all(p.requires_grad for p in model.levels[2].parameters())
    assert model.levels[2].training
    stats = model.levels[1].blocks[0].norm1.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(model.levels[1].blocks[0].norm1.running_mean, stats)
    assert MambaVision('tiny', frozen_stages=0).patch_embed.conv_down[0].weight.requires_grad is False
    assert all(p.requires_grad for p in MambaVision('tiny', frozen_stages=-1).parameters())


def test_norm_eval_keeps_batch_norm_statistics():
    model = MambaVision('tiny', norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    before = [m.running_var.clone() for m in bns]
    model(torch.randn(2, 3, 64, 64)).__len__()
    assert all(torch.equal(a, m.running_var) for a, m in zip(before, bns))
    assert all(p.requires_grad for p in model.parameters())  # norm_eval freezes statistics, not weights


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = MambaVision('tiny', window_size=(8, 8, 4, 2), drop_path_rate=0.0)
    with_cp = MambaVision('tiny', window_size=(8, 8, 4, 2), drop_path_rate=0.0, with_cp=True)
    with_cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 48, 40)
    grads = []
    for model in (plain, with_cp):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-5, msg=name)


def test_pretrained_is_loaded_in_init_weights_not_in_constructor(tmp_path):
    missing = str(tmp_path / 'absent.pth')
    model = MambaVision('tiny', pretrained=missing)  # constructing never touches the file
    assert model.init_cfg == dict(type='Pretrained', checkpoint=missing)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        model.init_weights()
    with pytest.raises(ValueError, match='either pretrained or init_cfg'):
        MambaVision('tiny', pretrained=missing, init_cfg=dict(type='Pretrained', checkpoint=missing))


def relative_norm_error(value, expected):
    """||value - expected|| / ||expected|| (Frobenius norms): the error over a whole tensor."""
    return ((value.float() - expected).norm() / expected.norm()).item()


@pytest.mark.parametrize('dtype, output_tol, grad_tol', [(torch.bfloat16, 0.03, 0.01), (torch.float16, 0.005, 0.002)])
@pytest.mark.parametrize('scale', [1.0, 255.0])
def test_autocast_outputs_and_gradients_stay_close_to_float32(dtype, output_tol, grad_tol, scale):
    """Mixed precision as CUDA AMP runs it (torch.autocast, same code path on CPU), training mode, initial
    weights; inputs normalised (scale 1) or raw pixel magnitudes (scale 255)."""
    torch.manual_seed(0)
    model = MambaVision(**SMALL).train()
    x = torch.randn(2, 3, 64, 64) * scale

    def outputs_and_grads(**autocast):
        model.zero_grad()
        with torch.autocast('cpu', **autocast):
            outs = model(x)
        sum(o.float().square().sum() for o in outs).backward()
        return outs, torch.cat([p.grad.flatten() for p in model.parameters()])

    outs_32, grads_32 = outputs_and_grads(enabled=False)
    outs, grads = outputs_and_grads(dtype=dtype)
    assert torch.isfinite(grads).all()
    for out, out_32 in zip(outs, outs_32):
        assert torch.isfinite(out).all()
        assert relative_norm_error(out, out_32) < output_tol
    assert relative_norm_error(grads, grads_32) < grad_tol


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_mixer_under_autocast_at_detection_window_length(dtype):
    """One 112x112 window of the detection configs (L = 12,544 tokens) through the Mamba mixer."""
    torch.manual_seed(0)
    mixer = MambaVisionMixer(16)
    x = torch.randn(1, 112 * 112, 16, requires_grad=True)
    y_32 = mixer(x)
    grads_32 = torch.autograd.grad(y_32.square().sum(), [x, *mixer.parameters()])
    with torch.autocast('cpu', dtype=dtype):
        y = mixer(x)
    assert y.dtype == dtype
    grads = torch.autograd.grad(y.float().square().sum(), [x, *mixer.parameters()])
    assert relative_norm_error(y, y_32) < 0.01
    for grad, grad_32 in zip(grads, grads_32):
        assert torch.isfinite(grad).all()
        assert relative_norm_error(grad, grad_32) < 0.03
