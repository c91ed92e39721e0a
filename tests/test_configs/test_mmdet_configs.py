"""The published Cascade Mask R-CNN configs."""
import os

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..helpers import ROOT, read_listing, shapes

# Parameters that the published configs build (MAMBAVISION_FACTS.md, section 4).
PUBLISHED = {'t': 89.20, 's': 107.48, 'b': 154.89}


def build(variant):
    cfg = Config.fromfile(os.path.join(ROOT, f'configs/mmdet/cascade-mask-rcnn_mambavision-{variant}_fpn_3x_coco.py'))
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('variant', ['t', 's', 'b'])
def test_config_builds_the_published_detector(variant):
    cfg, model = build(variant)
    assert set(cfg.model.backbone) == {'type', 'arch', 'window_size', 'drop_path_rate', 'out_indices', 'init_cfg'}
    assert cfg.model.backbone.window_size == (8, 8, 112, 56)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == PUBLISHED[variant]
    heads = cfg.model.roi_head.bbox_head
    assert [h.num_shared_convs for h in heads] == [4, 4, 4] and all(h.loss_bbox.type == 'GIoULoss' for h in heads)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == (2e-4 if variant == 'b' else 1e-4)
    assert cfg.param_scheduler[1].milestones == [27, 33] and cfg.train_cfg.max_epochs == 36
    if variant in ('t', 'b'):  # the variants with a published listing
        assert shapes(model.state_dict(), 'backbone.') == read_listing(variant)
