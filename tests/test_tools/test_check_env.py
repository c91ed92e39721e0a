"""tools/misc/check_env.py."""

import torch

from ..helpers.processes import run_tool


def test_check_env_proves_the_stack():
    out = run_tool(['tools/misc/check_env.py'])
    from mambavision_mm import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops: RoIAlign and NMS in PyTorch'
    assert f'mmcv 2.1.0 ({ops})' in out
    if not torch.cuda.is_available():
        assert '[check_env] no CUDA device (torch ' in out
