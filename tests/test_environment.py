import subprocess
import sys


def test_check_env_proves_the_stack():
    result = subprocess.run([sys.executable, 'tools/misc/check_env.py'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'mmcv 2.1.0 (ops compiled)' in result.stdout


def test_plugins_register_both_names_in_both_registries():
    import mmdet_plugin  # noqa: F401
    import mmseg_plugin  # noqa: F401
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import mambavision_backbone
    from mmengine_plugin import MambaVision  # the core class with config arguments checked by name
    assert issubclass(MambaVision, mambavision_backbone.MambaVision)
    for registry in (DET_MODELS, SEG_MODELS):
        assert registry.get('MambaVision') is MambaVision
        assert registry.get('MM_mamba_vision') is MambaVision
