"""PartialLoadHook: fine-tuning from a checkpoint of another class count, or with its mask heads left out."""
import logging

import pytest
import torch

from ...helpers.paths import MICRO_DET
from ...helpers.training import runner_of

# What depends on the class count: the three stages' box classifiers and regressors (one box per class) and
# mask logits.
CLASSIFIERS = [f'roi_head.{head}.{i}.{layer}.{kind}' for head, layers in (('bbox_head', ('fc_cls', 'fc_reg')),
                                                                         ('mask_head', ('conv_logits',)))
               for i in range(3) for layer in layers for kind in ('weight', 'bias')]


@pytest.fixture(scope='module')
def coco_checkpoint(tmp_path_factory):
    """A detector of 80 classes, as the published COCO checkpoints."""
    root = tmp_path_factory.mktemp('coco_detector')
    options = {f'model.roi_head.bbox_head.{i}.num_classes': 80 for i in range(3)}
    options['model.roi_head.mask_head.num_classes'] = 80
    runner = runner_of(MICRO_DET, root, options)
    torch.manual_seed(0)
    with torch.no_grad():  # "trained": every parameter differs from what a fresh build holds
        for parameter in runner.model.parameters():
            parameter.add_(torch.randn_like(parameter))
    path = root / 'coco.pth'
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, path)
    return path, {k: v.clone() for k, v in runner.model.state_dict().items()}


def fine_tune(work_dir, path, options=None):
    """(weights before loading, after loading, what the runner logged) of a 3-class runner with load_from."""
    runner = runner_of(MICRO_DET, work_dir, {'load_from': str(path), **(options or {})})
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    runner.logger.addHandler(handler)
    torch.manual_seed(1)
    runner._init_model_weights()
    fresh = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.load_or_resume()
    runner.logger.removeHandler(handler)
    return fresh, runner.model.state_dict(), records


def test_the_classifiers_of_another_class_count_are_initialised_and_the_rest_loaded(coco_checkpoint, tmp_path,
                                                                                     capsys):
    path, coco = coco_checkpoint
    fresh, loaded, records = fine_tune(tmp_path, path)
    printed = capsys.readouterr().out  # mmengine prints its mismatch report, without a logger, to stdout
    from_checkpoint = [k for k in loaded if torch.equal(loaded[k], coco[k].to(loaded[k].dtype))
                       if loaded[k].shape == coco[k].shape]
    kept_fresh = [k for k in loaded if torch.equal(loaded[k], fresh[k])]
    assert sorted(set(loaded) - set(from_checkpoint)) == sorted(CLASSIFIERS)
    assert set(CLASSIFIERS) <= set(kept_fresh)
    for key in ('backbone.patch_embed.conv_down.0.weight', 'neck.lateral_convs.0.conv.weight',
                'roi_head.bbox_head.0.shared_fcs.0.weight'):  # loading changed them
        assert not torch.equal(fresh[key], coco[key]) and key in from_checkpoint
    lines = [r for r in records if r.startswith('load_from ')]
    assert len(lines) == 1 and 'do not match exactly' not in printed + ''.join(records)
    assert lines[0].startswith(f'load_from {path}: {len(loaded) - len(CLASSIFIERS)} of {len(loaded)} tensors loaded; '
                               'freshly initialised, their shapes differ: roi_head.bbox_head.0.fc_cls.weight '
                               '(81, 64) -> (4, 64), roi_head.bbox_head.0.fc_cls.bias (81,) -> (4,), '
                               'roi_head.bbox_head.0.fc_reg.weight (320, 64) -> (12, 64)')
    assert lines[0].endswith('roi_head.mask_head.2.conv_logits.bias (80,) -> (3,)')


def test_a_boxes_only_detector_leaves_the_mask_heads_out(coco_checkpoint, tmp_path):
    path, coco = coco_checkpoint
    options = {'model.roi_head.mask_head': None, 'model.roi_head.mask_roi_extractor': None,
               'model.roi_head.bbox_head.0.num_classes': 3}
    _, loaded, records = fine_tune(tmp_path, path, options)
    assert not any(k.startswith('roi_head.mask_head') for k in loaded)
    line, = [r for r in records if r.startswith('load_from ')]
    mask_tensors = sum(k.startswith('roi_head.mask_head') for k in coco)
    assert line.endswith(f'not in this model, left out: roi_head.mask_head ({mask_tensors} tensors)')


def test_a_checkpoint_that_fits_loads_without_a_line(coco_checkpoint, tmp_path):
    path, coco = coco_checkpoint
    options = {f'model.roi_head.bbox_head.{i}.num_classes': 80 for i in range(3)}
    options['model.roi_head.mask_head.num_classes'] = 80
    _, loaded, records = fine_tune(tmp_path, path, options)
    assert all(torch.equal(loaded[k], coco[k]) for k in coco)
    assert not [r for r in records if r.startswith('load_from ')]
