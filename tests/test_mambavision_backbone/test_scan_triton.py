"""The 'triton' selective-scan backend, run on CPU tensors under Triton's interpreter.

The interpreter must be on before triton is first imported: conftest.py switches it on (TRITON_INTERPRET=1).
The interpreter executes each program in Python, so shapes stay small; the chunk length is shrunk where a
test needs many chunks.
"""
import os
import subprocess
import sys

import pytest
import torch

from mambavision_backbone.scan import random_scan_inputs, scan_with_gradients

pytest.importorskip('triton', reason='triton is not installed (pip install -e .[triton])')

from mambavision_backbone import scan_triton  # noqa: E402

from ..helpers.scan import run_scan

pytestmark = pytest.mark.skipif(not scan_triton.interpreter_enabled(),
                                reason='TRITON_INTERPRET=0 in the environment: the kernels cannot run on CPU')


def assert_matches_reference(inputs, dtype=torch.float32, softplus=True, rtol=1e-5, grad_rtol=1e-4):
    """Triton in ``dtype`` against the float64 reference on the same (rounded) inputs, values and gradients."""
    rounded = {k: v.to(dtype) for k, v in inputs.items()}
    grad_y = torch.randn(inputs['u'].shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected, expected_grads = scan_with_gradients({k: v.double() for k, v in rounded.items()},
                                                   grad_y.to(dtype).double(), backend='reference',
                                                   delta_softplus=softplus)
    y, grads = scan_with_gradients(rounded, grad_y, backend='triton', delta_softplus=softplus)
    assert y.dtype == dtype
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), expected, rtol=rtol, atol=rtol * expected.abs().max())
    for name, grad in grads.items():
        assert grad.dtype == dtype, name
        reference = expected_grads[name]
        torch.testing.assert_close(grad.double(), reference, rtol=grad_rtol,
                                   atol=grad_rtol * reference.abs().max(), msg=lambda m: f'{name}: {m}')


@pytest.mark.parametrize('shape', [(2, 3, 8, 37), (1, 2, 1, 50), (1, 3, 16, 21), (3, 1, 5, 9)])
def test_values_and_gradients_match_reference(shape):
    """Odd shapes: L not a multiple of the chunk, N = 1, 16 and not a power of two, any B * D."""
    assert_matches_reference(random_scan_inputs(*shape))


def test_many_chunks_carry_the_state_exactly(monkeypatch):
    """Chunks of 16 positions: the state and its gradient cross 6 chunk boundaries, the last chunk partial."""
    monkeypatch.setattr(scan_triton, '_TILE_ELEMENTS', 16 * 8)
    assert scan_triton.block_sizes(8, 90) == (8, 16)
    assert_matches_reference(random_scan_inputs(2, 2, 8, 90, seed=3))


def test_without_skip_bias_and_softplus():
    inputs = random_scan_inputs(2, 3, 4, 20)
    inputs['delta'] = inputs['delta'].abs()
    del inputs['D'], inputs['delta_bias']
    assert_matches_reference(inputs, softplus=False)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_inputs_accumulate_in_float32(dtype):
    """Half inputs give half outputs whose only error is the final rounding: the recurrence runs in fp32."""
    assert_matches_reference(random_scan_inputs(2, 3, 8, 40, seed=2), dtype=dtype, rtol=1e-2, grad_rtol=2e-2)


def test_strong_decay_over_many_chunks_is_finite_and_exact(monkeypatch):
    """|A| up to 8 and delta up to ~10: decays underflow to 0 inside chunks and across them."""
    monkeypatch.setattr(scan_triton, '_TILE_ELEMENTS', 64 * 8)
    inputs = random_scan_inputs(1, 2, 8, 1000, seed=4)
    inputs['A'] = -torch.linspace(0.1, 8.0, 16, dtype=torch.float64).reshape(2, 8)
    inputs['delta'] = inputs['delta'] * 3
    assert_matches_reference(inputs)


@pytest.mark.slow
def test_segmentation_length_is_exact():
    """L = 25,600 (the 160x160 window of the S segmentation config), fp32 against float64, |A| up to 8."""
    inputs = random_scan_inputs(1, 1, 8, 25600, seed=5)
    inputs['A'] = -torch.linspace(0.1, 8.0, 8, dtype=torch.float64).reshape(1, 8)
    inputs['delta'] = inputs['delta'] * 3
    assert_matches_reference(inputs, rtol=1e-4, grad_rtol=1e-4)


def test_autocast_does_not_change_the_kernels():
    inputs = {k: v.float() for k, v in random_scan_inputs(1, 2, 4, 30).items()}
    expected, _ = run_scan(inputs, 'triton')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y, grads = run_scan(inputs, 'triton', grads=True)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, expected, rtol=0, atol=0)
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_cpu_tensors_without_the_interpreter_are_refused():
    code = ('import torch; from mambavision_backbone import selective_scan; x = torch.ones(1, 1, 4); '
            "selective_scan(x, x, -torch.ones(1, 2), torch.ones(1, 2, 4), torch.ones(1, 2, 4), backend='triton')")
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert 'TRITON_INTERPRET=1' in result.stderr.splitlines()[-1]


@pytest.fixture
def atomic_adds(monkeypatch):
    """The number of atomic read-modify-write operations the interpreted kernels issue."""
    from triton.runtime.interpreter import InterpreterBuilder
    count = [0]
    real = InterpreterBuilder.create_atomic_rmw

    def counted(self, *args, **kwargs):
        count[0] += 1
        return real(self, *args, **kwargs)
    monkeypatch.setattr(InterpreterBuilder, 'create_atomic_rmw', counted)
    return count


@pytest.fixture
def deterministic_algorithms():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def test_deterministic_backward_matches_reference_without_atomic_adds(atomic_adds, deterministic_algorithms):
    inputs = random_scan_inputs(2, 3, 8, 37, seed=6)
    assert_matches_reference(inputs)
    assert atomic_adds[0] == 0


def test_default_backward_adds_with_atomics_and_agrees_with_the_deterministic_one(atomic_adds):
    """The negative control of the test above (it counts real atomics), and both paths give the same gradients."""
    inputs = {k: v.float() for k, v in random_scan_inputs(2, 3, 8, 37, seed=6).items()}
    _, atomic = run_scan(inputs, 'triton', grads=True)
    assert atomic_adds[0] > 0
    torch.use_deterministic_algorithms(True)
    try:
        _, deterministic = run_scan(inputs, 'triton', grads=True)
    finally:
        torch.use_deterministic_algorithms(False)
    for name in atomic:
        torch.testing.assert_close(deterministic[name], atomic[name], rtol=1e-6, atol=1e-6)


def test_the_real_kernels_pass_their_first_call():
    from mambavision_backbone import scan
    assert scan._first_call('triton', torch.device('cpu')) is None
