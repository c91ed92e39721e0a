"""Every trainable parameter of every shipped config gets a gradient in a training step, so that DDP runs with
find_unused_parameters=False (its default) instead of stopping with mmengine's "unused parameters" error."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from mambavision_mm.apis.models import build_model
from mambavision_mm.testing import synthetic_batch

from ..helpers.paths import ROOT

CONFIGS = sorted(os.path.relpath(p, ROOT) for pattern in ('configs/mmdet/**/*.py', 'configs/mmseg/**/*.py')
                 for p in glob.glob(os.path.join(ROOT, pattern), recursive=True) if '_base_' not in p)
# The custom detection template with masks off: a Cascade R-CNN (boxes only).
BOXES_ONLY = 'configs/mmdet/custom/cascade-mask-rcnn_mambavision-t_fpn_custom.py with_masks = False'
# One config of each kind of model in make test (the rest, the same heads at other sizes or schedules, in make
# test-slow): Cascade Mask R-CNN, Cascade R-CNN (boxes only), Mask R-CNN, RetinaNet (out_indices 1-3), UPerNet.
EACH_KIND = ('configs/mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py', BOXES_ONLY,
             'configs/mmdet/mask-rcnn_mambavision-t_fpn_1x_coco.py',
             'configs/mmdet/retinanet_mambavision-t_fpn_1x_coco.py',
             'configs/mmseg/upernet_mambavision-t_160k_ade20k-512x512.py')


def read(config, folder):
    """The config; for BOXES_ONLY a copy of the template with its first block's switch set, written to
    ``folder`` with its base by absolute path."""
    path, _, switch = config.partition(' ')
    if not switch:
        return Config.fromfile(os.path.join(ROOT, path))
    text = open(os.path.join(ROOT, path)).read()
    base_folder = os.path.dirname(os.path.dirname(os.path.join(ROOT, path)))
    copy = folder / 'boxes_only.py'
    copy.write_text(text.replace('with_masks = True', switch).replace("_base_ = ['../", f"_base_ = ['{base_folder}/"))
    return Config.fromfile(str(copy))


def fewer_rois(train_cfg):
    """A two-stage detector's training with 100 proposals and 32 sampled RoIs per image (COCO's 2000 and 512 only
    cost CPU time here: they change no parameter)."""
    if train_cfg.get('rpn_proposal'):
        train_cfg.rpn_proposal.max_per_img = 100
    stages = train_cfg.get('rcnn') or []
    for stage in stages if isinstance(stages, list) else [stages]:
        stage.sampler.num = 32


@pytest.mark.parametrize('config', [c if c in EACH_KIND else pytest.param(c, marks=pytest.mark.slow)
                                    for c in CONFIGS + [BOXES_ONLY]])
def test_one_training_step_reaches_every_trainable_parameter(config, tmp_path):
    cfg = read(config, tmp_path)
    if config == BOXES_ONLY:
        assert cfg.model.roi_head.mask_head is None
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.window_size = (8, 8, 8, 4)  # CPU-sized; windows hold no parameters
    if cfg.model.get('train_cfg'):
        fewer_rois(cfg.model.train_cfg)
    scope = cfg.default_scope
    if scope == 'mmseg':
        cfg.model.data_preprocessor.size = (128, 128)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg)).train()
    data = model.data_preprocessor(synthetic_batch(scope, model, (128, 128), 2, torch.device('cpu')), True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    assert set(EACH_KIND) <= set(CONFIGS + [BOXES_ONLY])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
