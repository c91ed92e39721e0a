"""tools/misc/check_env.py."""
import subprocess
import sys


def test_check_env_proves_the_stack():
    result = subprocess.run([sys.executable, 'tools/misc/check_env.py'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'mmcv 2.1.0 (ops compiled)' in result.stdout
