"""What pyproject.toml cannot say: files the wheel installs outside the packages' own folders.

- ``mambavision_mmcv_ext.pth`` at the top of site-packages: at interpreter start-up it finds
  ``mambavision_mm`` by import (without importing it) and installs the finder that serves ``mmcv._ext`` with our
  PyTorch ops where mmcv has no compiled extension (mmcv-lite), so that mmdet's and mmseg's own tools work
  even when they import ``mmcv.ops`` before any config imports a plugin. It imports nothing else of ours.
  Editable installs (``pip install -e .``) get it too: setuptools' editable wheel holds only its own path
  hooks, so the start-up file is added to it here (build-system pins setuptools < 81, whose editable_wheel
  command this extends).
- ``mambavision_backbone/.mim/``: the configs, ``model-index.yml`` and the tools, where ``mim search`` and
  ``mim download`` look for them (mim takes the first package of the distribution's ``top_level.txt``). Not in
  editable installs, where mim looks in site-packages and the packages stay in the checkout.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

STARTUP_FILE = os.path.join('mambavision_mm', 'ops', 'mambavision_mmcv_ext.pth')
MIM_FILES = ('configs', 'model-index.yml', 'tools')
MIM_FOLDER = os.path.join('mambavision_backbone', '.mim')
TOOL_HELPERS = 'mambavision_tools'  # a package of its own (pyproject.toml): not copied into .mim/tools


class BuildPyWithStartupFileAndMimFiles(build_py):
    """build_py, then the start-up file and the ``.mim`` files into the build folder."""

    def run(self):
        super().run()
        self.copy_file(STARTUP_FILE, os.path.join(self.build_lib, os.path.basename(STARTUP_FILE)))
        mim = os.path.join(self.build_lib, MIM_FOLDER)
        for name in MIM_FILES:
            target = os.path.join(mim, name)
            if os.path.isdir(name):
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(name, target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc', TOOL_HELPERS))
            else:
                self.mkpath(mim)
                self.copy_file(name, target)

    def get_outputs(self, include_bytecode=1):
        return [*super().get_outputs(include_bytecode),
                os.path.join(self.build_lib, os.path.basename(STARTUP_FILE))]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        mapping[os.path.join(self.build_lib, os.path.basename(STARTUP_FILE))] = STARTUP_FILE
        return mapping


class _StrategyWithStartupFile:
    """An editable-wheel strategy (setuptools' own, wrapped) that also writes the start-up file into the wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.write(STARTUP_FILE, os.path.basename(STARTUP_FILE))

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


class EditableWheelWithStartupFile(editable_wheel):
    """setuptools' editable wheel, with the start-up file beside its own path hooks."""

    def _select_strategy(self, name, tag, build_lib):
        return _StrategyWithStartupFile(super()._select_strategy(name, tag, build_lib))


setup(cmdclass={'build_py': BuildPyWithStartupFileAndMimFiles, 'editable_wheel': EditableWheelWithStartupFile})
