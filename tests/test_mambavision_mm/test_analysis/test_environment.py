"""GPU facts for check_env and the GPU check, on a faked GPU."""
import pytest
import torch

from mambavision_backbone import scan
from mambavision_mm.analysis import environment


@pytest.fixture
def fake_gpu(monkeypatch):
    """One faked H100 (compute capability 9.0) behind a torch built for CUDA 12.4 and sm_80/sm_86 + PTX 8.6."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda index: 'NVIDIA H100 80GB HBM3')
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda index: (9, 0))
    monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: ['sm_80', 'sm_86', 'compute_86'])
    monkeypatch.setattr(torch.version, 'cuda', '12.4')
    monkeypatch.setattr(environment, 'driver_cuda_version', lambda: (12, 2))
    monkeypatch.setattr(scan, 'mamba_ssm_available', lambda: True)
    monkeypatch.setattr(scan, 'triton_available', lambda: True)
    tried = []

    def first_call_problem(backend, device):
        tried.append((backend, str(device)))
        return "selective-scan backend 'cuda' failed its first call on cuda:0: RuntimeError: no kernel image; " \
               'fix: rebuild mamba-ssm' if backend == 'cuda' else None
    monkeypatch.setattr(scan, 'first_call_problem', first_call_problem)
    return tried


def test_gpu_lines_name_each_problem_and_its_fix(fake_gpu):
    assert environment.gpu_report() == [
        "torch's CUDA 12.4, driver supports CUDA 12.2: ok",
        'GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0): torch ok (through PTX: the first run compiles '
        'kernels, slowly)',
        "  'cuda' scan backend: PROBLEM: selective-scan backend 'cuda' failed its first call on cuda:0: "
        'RuntimeError: no kernel image; fix: rebuild mamba-ssm',
        "  'triton' scan backend: ok (matches the reference)"]
    assert fake_gpu == [('cuda', 'cuda:0'), ('triton', 'cuda:0')]


def test_gpu_lines_catch_an_old_driver_and_a_torch_without_kernels(fake_gpu, monkeypatch):
    monkeypatch.setattr(environment, 'driver_cuda_version', lambda: (11, 8))
    monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: ['sm_50', 'sm_60', 'sm_70'])
    monkeypatch.setattr(scan, 'mamba_ssm_available', lambda: False)
    lines = environment.gpu_report()
    assert lines[0] == ('PROBLEM: torch is built for CUDA 12.4, the driver supports CUDA up to 11.8; fix: update '
                        'the NVIDIA driver, or install a torch built for CUDA 11.x')
    assert lines[1] == ('PROBLEM: GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0): this torch has no kernels '
                        'for it (built for sm_50 sm_60 sm_70); fix: install a torch build that supports it')
    assert len(lines) == 2 and fake_gpu == []  # no backend is tried on a GPU torch cannot run on


@pytest.mark.parametrize('capability, arch_list, expected', [
    ((8, 6), ['sm_80', 'sm_90'], 'native'), ((8, 0), ['sm_86'], None), ((12, 0), ['sm_90a', 'compute_90'], 'ptx'),
    ((7, 5), ['sm_75'], 'native'), ((9, 0), ['sm_80', 'compute_80'], 'ptx'), ((8, 9), ['sm_90'], None)])
def test_which_torch_kernels_run_on_a_compute_capability(capability, arch_list, expected):
    assert environment.torch_kernels_for(capability, arch_list) == expected
