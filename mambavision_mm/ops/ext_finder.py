"""Make ``import mmcv._ext`` load :mod:`mambavision_mm.ops.mmcv_ext` where mmcv has no compiled extension.

The finder is appended to ``sys.meta_path``, after Python's own finders: a compiled ``mmcv/_ext*.so`` is
found first and used as it is; only where there is none does the finder answer, with the PyTorch ops. It is
installed by ``import mambavision_mm`` and, for scripts that import mmdet or mmcv.ops before any config
imports the plugin, at interpreter start-up by ``mambavision_mmcv_ext.pth``, which the package installs into
site-packages (setup.py). That is why this module imports nothing but the standard library.
"""
import importlib
import importlib.abc
import importlib.util
import sys

EXTENSION = 'mmcv._ext'
STAND_IN = 'mambavision_mm.ops.mmcv_ext'


class _StandInLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return importlib.import_module(STAND_IN)

    def exec_module(self, module):
        pass  # already executed when it was imported under its own name


class MMCVExtFinder(importlib.abc.MetaPathFinder):
    """Answers for ``mmcv._ext`` only, and only when no finder before it found the compiled extension."""

    tag = 'mambavision-mmcv-ext-finder'  # the same finder installed twice (.pth, then the plugin) is one

    def find_spec(self, fullname, path=None, target=None):
        if fullname != EXTENSION:
            return None
        return importlib.util.spec_from_loader(fullname, _StandInLoader())


def install() -> None:
    """Append the finder to ``sys.meta_path`` unless it is there already."""
    if not any(getattr(finder, 'tag', None) == MMCVExtFinder.tag for finder in sys.meta_path):
        sys.meta_path.append(MMCVExtFinder())
