"""What the installed distribution says about itself, and what the packages export."""
import glob
import importlib.metadata
import os

from mmengine.config import Config

import mambavision_backbone
import mambavision_mm

from ..helpers.paths import ROOT


def test_the_version_is_the_distributions():
    assert mambavision_backbone.__version__ == importlib.metadata.version('mambavision-mm') == '0.1.0'


def test_every_hook_the_configs_name_is_exported():
    named = set()
    for path in glob.glob(os.path.join(ROOT, 'configs/**/*.py'), recursive=True):
        if '_base_' in path:
            continue
        cfg = Config.fromfile(path)
        named |= {hook['type'] for hook in cfg.get('custom_hooks', [])}
        named |= {hook['type'] for hook in cfg.get('default_hooks', {}).values() if hook}
    ours = {name for name in named if name in dir(mambavision_mm.engine.hooks)}
    assert {'PartialLoadHook', 'PreemptionHook', 'SafeCheckpointHook', 'ExactResumeHook'} <= ours
    assert ours <= set(mambavision_mm.__all__)
