"""The hidden attention of the scan reproduces the scan, on every backend that can run here."""
import pytest
import torch

from mambavision_backbone import selective_scan
from mambavision_backbone.layers import MambaVisionMixer
from mambavision_backbone.scan import mamba_ssm_available, random_scan_inputs, relative_error, triton_available
from mambavision_mm.analysis.block_maps import mixer_rows
from mambavision_mm.analysis.hidden_attention import hidden_attention_rows


def apply_rows(alpha, u):
    """y[b, d, t] for the rows of alpha (batch, rows, D, L) applied to u (batch, D, L)."""
    return (alpha * u[:, None]).sum(-1).transpose(1, 2)


def scan_as_attention(inputs, rows):
    alpha = hidden_attention_rows(inputs['delta'], inputs['A'], inputs['B'], inputs['C'], rows, D=inputs['D'],
                                  delta_bias=inputs['delta_bias'], delta_softplus=True)
    return apply_rows(alpha, inputs['u'])


@pytest.mark.parametrize('shape', [(2, 3, 4, 37), (1, 5, 8, 64)])
def test_rows_applied_to_the_input_give_the_pytorch_scan_in_float64(shape):
    inputs = random_scan_inputs(*shape)
    expected = selective_scan(**inputs, delta_softplus=True, backend='torch')
    rows = list(range(shape[-1]))
    assert relative_error(scan_as_attention(inputs, rows), expected) <= 1e-6
    some = [0, shape[-1] // 2, shape[-1] - 1]
    assert relative_error(scan_as_attention(inputs, some), expected[..., some]) <= 1e-6


def test_rows_are_causal_and_hold_d_on_the_diagonal():
    inputs = random_scan_inputs(1, 2, 4, 10)
    alpha = hidden_attention_rows(inputs['delta'], inputs['A'], inputs['B'], inputs['C'], [3], D=inputs['D'])
    assert (alpha[0, 0, :, 4:] == 0).all()
    without_d = hidden_attention_rows(inputs['delta'], inputs['A'], inputs['B'], inputs['C'], [3])
    torch.testing.assert_close(alpha[0, 0, :, 3] - without_d[0, 0, :, 3], inputs['D'])
    with pytest.raises(IndexError, match='row 10 is outside the sequence of 10 tokens'):
        hidden_attention_rows(inputs['delta'], inputs['A'], inputs['B'], inputs['C'], [10])


def test_a_mixer_is_its_hidden_attention_plus_its_conv_branch():
    """The maps' rows from the mixer's own delta (its bias added twice), A, B, C and D: out_proj of (alpha applied
    to u, z) is the mixer's output."""
    torch.manual_seed(0)
    mixer = MambaVisionMixer(32).double().eval()
    tokens = torch.randn(2, 49, 32, dtype=torch.float64)
    u, _, _, _, _, z = mixer.scan_inputs(tokens)
    y = apply_rows(mixer_rows(mixer, tokens, range(49)), u)
    with torch.no_grad():
        recomputed = mixer.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))
        assert relative_error(recomputed, mixer(tokens)) <= 1e-6


def float32_backend_error(backend, device):
    inputs = random_scan_inputs(2, 4, 8, 45)
    rounded = {k: v.float().to(device) for k, v in inputs.items()}
    y = selective_scan(**rounded, delta_softplus=True, backend=backend).cpu()
    return relative_error(scan_as_attention({k: v.cpu().double() for k, v in rounded.items()}, range(45)), y)


@pytest.mark.skipif(not triton_available(), reason='triton is not installed')
def test_rows_give_the_triton_scan_under_the_interpreter():
    from mambavision_backbone import scan_triton
    if not scan_triton.interpreter_enabled():
        pytest.skip('TRITON_INTERPRET=0: the Triton kernels cannot run on CPU')
    assert float32_backend_error('triton', 'cpu') <= 1e-4


@pytest.mark.skipif(not (mamba_ssm_available() and torch.cuda.is_available()), reason="needs mamba-ssm and a GPU")
def test_rows_give_mamba_ssm_kernel():
    assert float32_backend_error('cuda', 'cuda') <= 1e-4
