"""The registered backbone: both names in both scopes, config arguments checked, odd test sizes."""

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from mambavision_backbone import MambaVision as CoreMambaVision
from mambavision_backbone.errors import UnsafeCheckpointError
from mambavision_mm import MambaVision
from mambavision_mm.apis.models import build_model

from ...helpers.checkpoints import mmengine_checkpoint
from ...helpers.paths import MICRO_DET, MICRO_SEG, TOY_SEG
from ...helpers.training import runner_of


def test_plugins_register_both_names_in_both_registries():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import mambavision_backbone
    import mmdet_plugin  # noqa: F401
    import mmseg_plugin  # noqa: F401
    assert issubclass(MambaVision, mambavision_backbone.MambaVision)
    for registry in (DET_MODELS, SEG_MODELS):
        assert registry.get('MambaVision') is MambaVision
        assert registry.get('MM_mamba_vision') is MambaVision


@pytest.mark.parametrize('config,options,error,message', [
    (MICRO_DET, {'model.backbone.drop_path_rat': 0.1}, TypeError,
     "MambaVision has no argument 'drop_path_rat' (did you mean 'drop_path_rate'?); its arguments are arch, dim, "),
    (MICRO_DET, {'model.backbone.arch': 'tinyy'}, ValueError,
     "unknown MambaVision arch 'tinyy'; choose one of ['b', 'base', 'l', 'l2', "),
    (MICRO_SEG, {'model.backbone.window_size': (8, 8, 8)}, ValueError,
     "depths, num_heads and window_size need one entry per stage (4); got {'depths': 4, 'num_heads': 4, "
     "'window_size': 3}"),
])
def test_bad_backbone_settings_are_one_line_errors_when_the_runner_is_built(tmp_path, config, options, error,
                                                                            message):
    with pytest.raises(error) as raised:
        runner_of(config, tmp_path, options)
    assert message in str(raised.value) and '\n' not in str(raised.value)


@pytest.mark.parametrize('size', [(183, 277), (97, 301), (33, 45)])
def test_inference_at_odd_sizes(size):
    """Whole-image inference where the feature maps are not multiples of the windows."""
    from mmseg.structures import SegDataSample
    model = build_model(Config.fromfile(TOY_SEG)).eval()
    sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size, padding_size=[0] * 4))
    with torch.no_grad():
        result = model.predict(torch.randn(1, 3, *size), [sample])[0]
    assert result.pred_sem_seg.data.shape == (1, *size) and result.seg_logits.data.shape == (4, *size)


def test_a_detector_checkpoint_initialises_the_registered_backbone_not_the_core_one(tmp_path):
    # mmengine's runner files hold its message hub: the registered backbone reads them with the plugin layer's
    # allow-list; the core package's own list, which knows nothing of mmengine, refuses them.
    path = str(tmp_path / 'detector.pth')
    torch.save(dict(mmengine_checkpoint(), state_dict={'backbone.outnorm0.weight': torch.full((80,), 3.0)}), path)
    registered = MODELS.build(dict(type='MambaVision', arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=path)))
    registered.init_weights()
    assert torch.equal(registered.outnorm0.weight, torch.full((80,), 3.0))
    core = CoreMambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UnsafeCheckpointError, match='would call mmengine.logging.history_buffer.HistoryBuffer'):
        core.init_weights()
