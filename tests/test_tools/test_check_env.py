"""tools/misc/check_env.py."""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from mambavision_backbone import scan

from ..helpers import ROOT


def test_check_env_proves_the_stack():
    result = subprocess.run([sys.executable, 'tools/misc/check_env.py'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from mmengine_plugin import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops: RoIAlign and NMS in PyTorch'
    assert f'mmcv 2.1.0 ({ops})' in result.stdout
    if not torch.cuda.is_available():
        assert '[check_env] no CUDA device (torch ' in result.stdout


@pytest.fixture
def check_env():
    spec = importlib.util.spec_from_file_location('check_env', os.path.join(ROOT, 'tools/misc/check_env.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_gpu(monkeypatch, check_env):
    """One faked H100 (compute capability 9.0) behind a torch built for CUDA 12.4 and sm_80/sm_86 + PTX 8.6."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda index: 'NVIDIA H100 80GB HBM3')
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda index: (9, 0))
    monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: ['sm_80', 'sm_86', 'compute_86'])
    monkeypatch.setattr(torch.version, 'cuda', '12.4')
    monkeypatch.setattr(check_env, 'driver_cuda_version', lambda: (12, 2))
    monkeypatch.setattr(scan, 'mamba_ssm_available', lambda: True)
    monkeypatch.setattr(scan, 'triton_available', lambda: True)
    tried = []

    def first_call_problem(backend, device):
        tried.append((backend, str(device)))
        return "selective-scan backend 'cuda' failed its first call on cuda:0: RuntimeError: no kernel image; " \
               'fix: rebuild mamba-ssm' if backend == 'cuda' else None
    monkeypatch.setattr(scan, 'first_call_problem', first_call_problem)
    return tried


def test_gpu_lines_name_each_problem_and_its_fix(check_env, fake_gpu):
    assert check_env.gpu_report() == [
        "torch's CUDA 12.4, driver supports CUDA 12.2: ok",
        'GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0): torch ok (through PTX: the first run compiles '
        'kernels, slowly)',
        "  'cuda' scan backend: PROBLEM: selective-scan backend 'cuda' failed its first call on cuda:0: "
        'RuntimeError: no kernel image; fix: rebuild mamba-ssm',
        "  'triton' scan backend: ok (matches the reference)"]
    assert fake_gpu == [('cuda', 'cuda:0'), ('triton', 'cuda:0')]


def test_gpu_lines_catch_an_old_driver_and_a_torch_without_kernels(check_env, fake_gpu, monkeypatch):
    monkeypatch.setattr(check_env, 'driver_cuda_version', lambda: (11, 8))
    monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: ['sm_50', 'sm_60', 'sm_70'])
    monkeypatch.setattr(scan, 'mamba_ssm_available', lambda: False)
    lines = check_env.gpu_report()
    assert lines[0] == ('PROBLEM: torch is built for CUDA 12.4, the driver supports CUDA up to 11.8; fix: update '
                        'the NVIDIA driver, or install a torch built for CUDA 11.x')
    assert lines[1] == ('PROBLEM: GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0): this torch has no kernels '
                        'for it (built for sm_50 sm_60 sm_70); fix: install a torch build that supports it')
    assert len(lines) == 2 and fake_gpu == []  # no backend is tried on a GPU torch cannot run on


@pytest.mark.parametrize('capability, arch_list, expected', [
    ((8, 6), ['sm_80', 'sm_90'], 'native'), ((8, 0), ['sm_86'], None), ((12, 0), ['sm_90a', 'compute_90'], 'ptx'),
    ((7, 5), ['sm_75'], 'native'), ((9, 0), ['sm_80', 'compute_80'], 'ptx'), ((8, 9), ['sm_90'], None)])
def test_which_torch_kernels_run_on_a_compute_capability(check_env, capability, arch_list, expected):
    assert check_env.torch_kernels_for(capability, arch_list) == expected
