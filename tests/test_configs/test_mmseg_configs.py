"""The published UPerNet configs."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.utils import get_installed_path

from mambavision_mm.apis.models import build_model

from ..helpers.checkpoints import read_listing, shapes
from ..helpers.paths import ROOT

# config -> (parameters these configs build in millions, lr, weight decay, AMP, train batch per GPU, crop). The
# parameter counts are this project's figures; the published ones (55 / 84 / 126 / 780 M, in the paper's table)
# are listed beside them in configs/mmseg/metafile.yml and docs/benchmarks.md and differ for T, S and B.
RECIPES = {
    'upernet_mambavision-t_160k_ade20k-512x512.py': (62.52, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-s_160k_ade20k-512x512.py': (81.79, 6e-5, 0.01, True, 2, (512, 512)),
    'upernet_mambavision-b_160k_ade20k-512x512.py': (131.20, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-l3-21k_160k_ade20k-640x640.py': (780.51, 8e-5, 0.05, False, 1, (640, 640)),
}


def with_label_check(pipeline):
    """mmseg's pipeline with CheckSegLabels(num_classes=150) right after LoadAnnotations."""
    at = [t['type'] for t in pipeline].index('LoadAnnotations') + 1
    return [*pipeline[:at], dict(type='CheckSegLabels', num_classes=150), *pipeline[at:]]


def unscoped(pipeline):
    """The steps without the ``_scope_`` key mmengine adds to values a config reads from an ``mmseg::`` base."""
    return [{k: v for k, v in step.items() if k != '_scope_'} for step in pipeline]


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_config_builds_the_published_segmentor(name):
    millions, lr, decay, amp, batch, crop = RECIPES[name]
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/mmseg', name))
    with torch.device('meta'):
        model = build_model(cfg)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == millions
    assert set(cfg.model.backbone) == {'type', 'arch', 'window_size', 'drop_path_rate', 'out_indices', 'init_cfg'}
    assert cfg.optim_wrapper.optimizer.lr == lr and cfg.optim_wrapper.optimizer.weight_decay == decay
    assert (cfg.optim_wrapper.type == 'AmpOptimWrapper') == amp
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'norm': {'decay_mult': 0.0}}
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'PolyLR'] and cfg.param_scheduler[0].end == 1500
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == batch
    assert cfg.crop_size == crop and cfg.model.test_cfg.mode == 'whole'
    dims = [model.backbone.arch_settings['dim'] * 2 ** i for i in range(4)]
    assert (cfg.model.decode_head.type, cfg.model.decode_head.in_channels, cfg.model.decode_head.num_classes) == \
        ('UPerHead', dims, 150)
    assert (cfg.model.auxiliary_head.type, cfg.model.auxiliary_head.in_channels) == ('FCNHead', dims[2])
    assert (cfg.val_evaluator.type, cfg.val_evaluator.iou_metrics) == ('IoUMetric', ['mIoU'])
    resize = [t for t in cfg.test_pipeline if t.type == 'Resize'][0]
    assert resize.keep_ratio and resize.scale == (4 * crop[0], crop[0])
    base = Config.fromfile(os.path.join(get_installed_path('mmseg'), '.mim/configs/_base_/datasets',
                                        'ade20k.py' if crop == (512, 512) else 'ade20k_640x640.py'))
    assert unscoped(cfg.train_dataloader.dataset.pipeline) == with_label_check(base.train_pipeline)
    assert unscoped(cfg.val_dataloader.dataset.pipeline) == with_label_check(base.test_pipeline)
    assert [h.type for h in cfg.custom_hooks] == ['PlainCheckpointHook', 'DatasetCheckHook', 'ExactResumeHook',
                                                  'NonFiniteLossHook', 'PartialLoadHook', 'PreemptionHook']
    variant = name.split('_')[1].split('-')[1]
    if variant in ('t', 'b'):  # the variants with a published listing
        assert shapes(model.state_dict(), 'backbone.') == read_listing(variant)
