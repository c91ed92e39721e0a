"""requires-python tells the truth: vermin finds nothing in the code that the oldest declared Python lacks."""
import os
import re
import subprocess
import sys

from ..helpers.paths import ROOT

SOURCES = ['mambavision_backbone', 'mambavision_mm', 'mmdet_plugin', 'mmseg_plugin', 'tools', 'configs', 'setup.py']


def vermin(target):
    command = [os.path.join(os.path.dirname(sys.executable), 'vermin'), '--no-tips', '--violations',
               '--eval-annotations', f'-t={target}-', *SOURCES]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_code_runs_on_the_oldest_declared_python():
    declared = re.search(r'requires-python = ">=(\d+\.\d+)"', open(os.path.join(ROOT, 'pyproject.toml')).read())
    result = vermin(declared.group(1))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_finds_what_an_older_python_lacks():
    result = vermin('3.7')  # math.isqrt and importlib.metadata are 3.8
    assert result.returncode == 1 and 'math.isqrt' in result.stdout
