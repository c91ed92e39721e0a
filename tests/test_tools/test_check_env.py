"""tools/misc/check_env.py."""
import subprocess
import sys

import torch


def test_check_env_proves_the_stack():
    result = subprocess.run([sys.executable, 'tools/misc/check_env.py'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from mambavision_mm import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops: RoIAlign and NMS in PyTorch'
    assert f'mmcv 2.1.0 ({ops})' in result.stdout
    if not torch.cuda.is_available():
        assert '[check_env] no CUDA device (torch ' in result.stdout
