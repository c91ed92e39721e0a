"""The published Cascade Mask R-CNN configs."""
import os

import pytest
from mmengine.config import Config
from mmengine.utils import get_installed_path

from mambavision_mm.apis.models import build_model

from ..helpers.checkpoints import read_listing, shapes
from ..helpers.paths import ROOT

# Parameters in millions that these configs (and the published configs they reproduce) build: this project's
# figures. The published tables quote 86 / 108 / 145 M (configs/mmdet/metafile.yml, docs/benchmarks.md).
BUILT_PARAMS_M = {'t': 89.20, 's': 107.48, 'b': 154.89}
# mmdet's own config whose recipe (heads, augmentation, evaluation) the published detection configs share.
CONVNEXT = 'convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'


def build(variant):
    cfg = Config.fromfile(os.path.join(ROOT, f'configs/mmdet/cascade-mask-rcnn_mambavision-{variant}_fpn_3x_coco.py'))
    return cfg, build_model(cfg)


@pytest.mark.parametrize('variant', ['t', 's', 'b'])
def test_config_builds_the_published_detector(variant):
    cfg, model = build(variant)
    assert set(cfg.model.backbone) == {'type', 'arch', 'window_size', 'drop_path_rate', 'out_indices', 'init_cfg'}
    assert cfg.model.backbone.window_size == (8, 8, 112, 56)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == BUILT_PARAMS_M[variant]
    heads = cfg.model.roi_head.bbox_head
    assert [h.num_shared_convs for h in heads] == [4, 4, 4] and all(h.loss_bbox.type == 'GIoULoss' for h in heads)
    assert all(h.norm_cfg.type == 'SyncBN' for h in heads)
    assert cfg.model.neck.in_channels == [model.backbone.arch_settings['dim'] * 2 ** i for i in range(4)]
    # Optimizer: AdamW without decay on norms, AMP.
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.betas, optimizer.weight_decay) == \
        ('AdamW', 2e-4 if variant == 'b' else 1e-4, (0.9, 0.999), 0.05)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'norm': {'decay_mult': 0.0}}
    # Schedule and total batch: 36 epochs, steps at 27 and 33, 8 GPUs x 2 images.
    assert cfg.param_scheduler[1].milestones == [27, 33] and cfg.train_cfg.max_epochs == 36
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    # Augmentation, evaluator and test settings: mmdet's ConvNeXt recipe, unchanged.
    convnext = Config.fromfile(os.path.join(get_installed_path('mmdet'), '.mim/configs', CONVNEXT),
                               import_custom_modules=False)  # its ConvNeXt backbone comes from mmpretrain
    assert cfg.train_dataloader.dataset.pipeline == convnext.train_dataloader.dataset.pipeline
    assert any(t.type == 'RandomChoice' for t in cfg.train_dataloader.dataset.pipeline)  # the multi-scale crops
    assert cfg.test_dataloader.dataset.pipeline == convnext.test_dataloader.dataset.pipeline
    evaluator = {k: v for k, v in cfg.val_evaluator.items() if k != '_scope_'}  # recorded by mmengine
    assert evaluator == convnext.val_evaluator and evaluator['metric'] == ['bbox', 'segm']
    assert cfg.model.test_cfg == convnext.model.test_cfg
    if variant in ('t', 'b'):  # the variants with a published listing
        assert shapes(model.state_dict(), 'backbone.') == read_listing(variant)
