"""The selective scan: the torch backend against the reference, backend choice, mixed precision, compiling."""
import subprocess
import sys

import pytest
import torch

from mambavision_backbone import scan as scan_module
from mambavision_backbone import scan_torch, selective_scan
from mambavision_backbone.scan import random_scan_inputs
from mambavision_backbone.scan_torch import selective_scan_torch

from ..helpers.scan import run_scan, scan_grad_output


@pytest.mark.parametrize('shape', [(2, 5, 4, 1), (2, 5, 4, 2), (3, 6, 8, 37), (1, 4, 2, 130)])
@pytest.mark.parametrize('softplus', [True, False])
def test_torch_backend_matches_reference_values_and_grads(shape, softplus):
    inputs = random_scan_inputs(*shape)
    if not softplus:  # delta must stay positive for a meaningful scan
        inputs['delta'] = inputs['delta'].abs()
        inputs['delta_bias'] = inputs['delta_bias'].abs()
    y_ref, g_ref = run_scan(inputs, 'reference', softplus, grads=True)
    y, g = run_scan(inputs, 'torch', softplus, grads=True)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    for name in g_ref:
        torch.testing.assert_close(g[name], g_ref[name], rtol=1e-9, atol=1e-9, msg=name)


def test_without_skip_and_bias():
    inputs = random_scan_inputs(2, 3, 4, 20)
    inputs['D'] = None
    inputs['delta_bias'] = None
    y_ref = selective_scan(**inputs, backend='reference')
    y = selective_scan(**inputs, backend='torch')
    torch.testing.assert_close(y, y_ref)
    with_skip = selective_scan(**{**inputs, 'D': torch.ones(3, dtype=torch.float64)}, backend='torch')
    torch.testing.assert_close(with_skip - y, inputs['u'])


def test_float32_long_sequence_is_stable_and_exact():
    """L = 25,600 (the 160x160 window of the S segmentation config) in fp32 against fp64, with |A| up to 8."""
    inputs = random_scan_inputs(1, 6, 8, 25600)
    inputs['A'] = -torch.linspace(0.1, 8.0, 48, dtype=torch.float64).reshape(6, 8)
    inputs['delta'] = inputs['delta'] * 3  # softplus(delta) up to ~10: strong decay, tiny and large factors
    expected, _ = run_scan(inputs, 'reference')
    y, _ = run_scan({k: v.float() for k, v in inputs.items()}, 'torch')
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), expected, rtol=1e-4, atol=1e-4)


def test_float32_gradients_match_float64_reference():
    inputs = random_scan_inputs(2, 4, 8, 600, seed=1)
    _, expected = run_scan(inputs, 'reference', grads=True)
    _, grads = run_scan({k: v.float() for k, v in inputs.items()}, 'torch', grads=True)
    for name, grad in grads.items():
        assert grad.dtype == torch.float32
        torch.testing.assert_close(grad.double(), expected[name], rtol=1e-3, atol=1e-3, msg=name)


def test_half_inputs_are_computed_in_float32_and_returned_in_input_dtype():
    inputs = {k: v.float() for k, v in random_scan_inputs(1, 4, 4, 16).items()}
    y32 = selective_scan(**inputs, delta_softplus=True, backend='torch')
    half = dict(inputs, u=inputs['u'].bfloat16(), delta=inputs['delta'].bfloat16())
    y16 = selective_scan(**half, delta_softplus=True, backend='torch')
    assert y16.dtype == torch.bfloat16
    torch.testing.assert_close(y16.float(), y32, rtol=0.05, atol=0.1)


def test_backend_choice_argument_environment_and_errors(monkeypatch):
    device = torch.device('cpu')
    monkeypatch.delenv(scan_module.ENV_VAR, raising=False)
    assert scan_module.resolve_backend(None, device) == 'torch'
    monkeypatch.setenv(scan_module.ENV_VAR, 'reference')
    assert scan_module.resolve_backend(None, device) == 'reference'
    assert scan_module.resolve_backend('torch', device) == 'torch'  # the argument wins
    monkeypatch.setenv(scan_module.ENV_VAR, 'fast')
    with pytest.raises(ValueError, match='MAMBAVISION_SCAN_BACKEND'):
        scan_module.resolve_backend(None, device)
    with pytest.raises(ValueError, match="unknown selective-scan backend 'fast'"):
        scan_module.resolve_backend('fast', device)
    with pytest.raises(RuntimeError, match='cuda'):
        scan_module.resolve_backend('cuda', device)
    monkeypatch.setattr(scan_module, 'triton_available', lambda: False)
    with pytest.raises(RuntimeError, match=r'needs triton: pip install triton \(the \[triton\] extra'):
        scan_module.resolve_backend('triton', device)


@pytest.mark.parametrize('mamba_ssm, triton, device, expected', [
    (True, True, 'cuda', 'cuda'), (False, True, 'cuda', 'triton'), (False, False, 'cuda', 'torch'),
    (True, True, 'cpu', 'torch'), (False, True, 'mps', 'torch')])
def test_auto_prefers_mamba_ssm_then_triton_on_gpus(monkeypatch, mamba_ssm, triton, device, expected):
    monkeypatch.delenv(scan_module.ENV_VAR, raising=False)
    monkeypatch.setattr(scan_module, 'first_call_problem', lambda backend, device: None)
    monkeypatch.setattr(scan_module, 'mamba_ssm_available', lambda: mamba_ssm)
    monkeypatch.setattr(scan_module, 'triton_available', lambda: triton)
    assert scan_module.resolve_backend('auto', torch.device(device)) == expected


@pytest.fixture
def fresh_scan_memory():
    """Nothing logged and no first call tried yet: the module remembers both for the life of the process."""
    scan_module._logged.clear()
    scan_module._first_call.cache_clear()
    yield
    scan_module._logged.clear()
    scan_module._first_call.cache_clear()


def test_choice_is_logged_once(fresh_scan_memory, package_logs):
    inputs = random_scan_inputs(1, 2, 2, 3)
    for _ in range(3):
        selective_scan(**inputs, backend='torch')
    assert package_logs == ["selective scan: using the 'torch' backend on cpu (requested: 'torch')"]


def test_shape_errors():
    inputs = random_scan_inputs(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r'B must be \(B, N, L\)'):
        selective_scan(**dict(inputs, B=inputs['B'][:, :2]))
    with pytest.raises(ValueError, match='A must be'):
        selective_scan(**dict(inputs, A=inputs['A'][:2]))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_keeps_the_recurrence_in_float32(dtype):
    """Under autocast (the same code path as CUDA AMP) the scan still computes in fp32, read-out included."""
    inputs = random_scan_inputs(2, 8, 4, 300, dtype=torch.float32)
    expected, _ = run_scan(inputs, 'reference')
    with torch.autocast('cpu', dtype=dtype):
        y, grads = run_scan(inputs, 'torch', grads=True)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_chunk_boundaries_are_exact():
    """Lengths around the chunk sizes (a square, one more, one less) against the float64 reference."""
    for length in (15, 16, 17, 48, 49, 50):
        inputs = random_scan_inputs(1, 3, 2, length, seed=length)
        (y_ref, g_ref), (y, g) = run_scan(inputs, 'reference', grads=True), run_scan(inputs, 'torch', grads=True)
        torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
        for name in g_ref:
            torch.testing.assert_close(g[name], g_ref[name], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('compiler', ['aot_eager', pytest.param('inductor', marks=pytest.mark.slow)])
def test_torch_backend_compiles_into_one_graph(compiler, fresh_scan_memory):
    """torch.compile(fullgraph=True) traces the few-step scan, forward and backward, with no graph break."""
    inputs = {k: v.float() for k, v in random_scan_inputs(2, 3, 4, 50).items()}
    expected, expected_grads = run_scan(inputs, 'torch', grads=True)
    compiled = torch.compile(selective_scan, backend=compiler, fullgraph=True)
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    y = compiled(**leaves, delta_softplus=True, backend='torch')
    y.backward(scan_grad_output(inputs))
    torch.testing.assert_close(y.detach(), expected, rtol=1e-5, atol=1e-5)
    for name, leaf in leaves.items():
        torch.testing.assert_close(leaf.grad, expected_grads[name], rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize('reverse', [False, True])
def test_chunk_decays_by_cumulative_product_equal_the_loop(reverse):
    """Accelerators take the decays from one cumulative product, CPUs from a loop: both give the same numbers."""
    a = torch.rand(7, 5, 2, 3, dtype=torch.float64)
    loop = scan_torch._chunk_decays(a, reverse, cumulative=False)
    torch.testing.assert_close(scan_torch._chunk_decays(a, reverse, cumulative=True), loop, rtol=1e-12, atol=0)
    t = 2
    expected = a[t + 1:].prod(0) if reverse else a[1:t + 1].prod(0)
    torch.testing.assert_close(loop[t], expected)
    assert (loop[-1 if reverse else 0] == 1).all()


def test_available_backends_per_device(monkeypatch):
    monkeypatch.setattr(scan_module, 'mamba_ssm_available', lambda: True)
    monkeypatch.setattr(scan_module, 'triton_available', lambda: True)
    assert scan_module.available_backends(torch.device('cuda')) == ['torch', 'reference', 'triton', 'cuda']
    assert scan_module.available_backends(torch.device('cpu')) == ['torch', 'reference']
    monkeypatch.setattr(scan_module, 'triton_available', lambda: False)
    assert scan_module.available_backends(torch.device('cuda')) == ['torch', 'reference', 'cuda']


def test_everything_imports_and_runs_without_triton():
    """Triton is optional: blocked, the package imports, auto runs, and asking for 'triton' says how to get it."""
    code = '\n'.join([
        'import sys; sys.modules["triton"] = None',
        'import torch, mambavision_backbone, mmdet_plugin, mmseg_plugin',
        'from mambavision_backbone import selective_scan, scan',
        'x = torch.ones(1, 2, 5)',
        'args = (x, x, -torch.ones(2, 3), torch.ones(1, 3, 5), torch.ones(1, 3, 5))',
        'print(selective_scan(*args).shape, scan.available_backends(torch.device("cuda")))',
        'selective_scan(*args, backend="triton")',
    ])
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "torch.Size([1, 2, 5]) ['torch', 'reference']"
    assert result.stderr.strip().splitlines()[-1] == (
        "RuntimeError: selective-scan backend 'triton' needs triton: pip install triton (the [triton] extra; "
        "CUDA builds of torch ship with it)")


@pytest.fixture
def first_calls(monkeypatch, fresh_scan_memory):
    """A clean record of first calls, and 'auto' trying the triton backend before torch on CPU tensors."""
    monkeypatch.delenv(scan_module.ENV_VAR, raising=False)
    monkeypatch.setattr(scan_module, '_auto_candidates', lambda device: ['triton', 'torch'])
    monkeypatch.setattr(scan_module, 'triton_available', lambda: True)
    calls = []

    def use(impl):
        def counted(*args, **kwargs):
            calls.append(impl.__name__)
            return impl(*args, **kwargs)
        monkeypatch.setitem(scan_module._IMPLEMENTATIONS, 'triton', counted)
    return use, calls


def _no_kernel_image(*args, **kwargs):
    raise RuntimeError('CUDA error: no kernel image is available for execution on the device\nmore details')


def _off_by_one_percent(*args, **kwargs):
    return selective_scan_torch(*args, **kwargs) * 1.01


@pytest.mark.parametrize('impl, says', [(_no_kernel_image, 'RuntimeError: CUDA error: no kernel image is available '
                                                           'for execution on the device; fix: install the triton'),
                                        (_off_by_one_percent, 'its y is off the reference by 0.01 (relative)')])
def test_auto_falls_back_from_a_backend_that_fails_its_first_call(first_calls, package_logs, impl, says):
    use, calls = first_calls
    use(impl)
    inputs = random_scan_inputs(1, 2, 4, 9, dtype=torch.float32)
    expected, _ = run_scan(inputs, 'torch')
    package_logs.clear()
    for _ in range(2):
        y, _ = run_scan(inputs, 'auto')
        torch.testing.assert_close(y, expected, rtol=0, atol=0)
    assert calls == [impl.__name__]  # tried once per device, never used
    warning, choice = package_logs
    assert warning.startswith("selective-scan backend 'triton' failed its first call on cpu: ")
    assert says in warning and 'MAMBAVISION_SCAN_BACKEND=torch' in warning
    assert warning.endswith('falling back to the next backend')
    assert choice == ("selective scan: using the 'torch' backend on cpu (requested: 'auto'; "
                      "'triton' failed its first call)")


def test_a_backend_named_explicitly_raises_its_first_call_failure(first_calls):
    pytest.importorskip('triton', reason='triton is not installed')  # naming it on CPU asks for its interpreter
    use, calls = first_calls
    use(_no_kernel_image)
    with pytest.raises(RuntimeError, match="backend 'triton' failed its first call on cpu: RuntimeError: CUDA error: "
                                           'no kernel image .* fix: install the triton'):
        selective_scan(**random_scan_inputs(1, 2, 4, 9, dtype=torch.float32), backend='triton')


def test_a_correct_backend_passes_its_first_call_once(first_calls):
    use, calls = first_calls
    use(selective_scan_torch)
    inputs = random_scan_inputs(1, 2, 4, 9, dtype=torch.float32)
    for _ in range(3):
        run_scan(inputs, 'auto')
    assert calls == ['selective_scan_torch'] * 4  # the first call's check, then the three calls
    assert scan_module.first_call_problem('triton', torch.device('cpu')) is None
    assert calls == ['selective_scan_torch'] * 4  # remembered, not tried again


def test_deterministic_algorithms_keep_auto_off_mamba_ssm(monkeypatch, fresh_scan_memory, package_logs):
    monkeypatch.delenv(scan_module.ENV_VAR, raising=False)
    monkeypatch.setattr(scan_module, 'first_call_problem', lambda backend, device: None)
    monkeypatch.setattr(scan_module, 'mamba_ssm_available', lambda: True)
    monkeypatch.setattr(scan_module, 'triton_available', lambda: True)
    gpu = torch.device('cuda', 0)
    assert scan_module.resolve_backend('auto', gpu) == 'cuda'
    torch.use_deterministic_algorithms(True)
    try:
        assert scan_module.resolve_backend('auto', gpu) == 'triton'
        assert scan_module.resolve_backend('cuda', gpu) == 'cuda'  # asked for by name: used, with a warning
    finally:
        torch.use_deterministic_algorithms(False)
    assert package_logs == [
        "selective scan: using the 'cuda' backend on cuda (requested: 'auto')",
        "selective scan: using the 'triton' backend on cuda (requested: 'auto'; 'cuda' skipped: deterministic "
        'algorithms are on and its backward is not)',
        "selective scan: using the 'cuda' backend on cuda (requested: 'cuda'; deterministic algorithms are on, "
        'but its backward is not: results vary run to run)']
