"""Segmentation: configs, and the tools end to end on generated ADE20K-layout data (CPU): ours, mmseg's own
packaged tools and MMSegInferencer; data checks."""
import json
import os
import re

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.utils import get_installed_path  # noqa: E402

from mmengine_plugin.toy_data import generate_ade20k  # noqa: E402

from .helpers import ROOT, packaged_tool, run_tool  # noqa: E402
from .test_backbone import read_listing, shapes  # noqa: E402
from .test_checkpoint import published_classification  # noqa: E402

TOY = os.path.join(ROOT, 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py')
# (config, parameters the published configs build, lr, weight decay, AMP, train batch per GPU, crop)
PUBLISHED = {
    'upernet_mambavision-t_160k_ade20k-512x512.py': (62.52, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-s_160k_ade20k-512x512.py': (81.79, 6e-5, 0.01, True, 2, (512, 512)),
    'upernet_mambavision-b_160k_ade20k-512x512.py': (131.20, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-l3-21k_160k_ade20k-640x640.py': (780.51, 8e-5, 0.05, False, 1, (640, 640)),
}
TRAIN_ARGS = ['--cfg-options', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
              'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1', 'randomness.seed=0']


def with_label_check(pipeline):
    """mmseg's pipeline with CheckSegLabels(num_classes=150) right after LoadAnnotations."""
    at = [t['type'] for t in pipeline].index('LoadAnnotations') + 1
    return [*pipeline[:at], dict(type='CheckSegLabels', num_classes=150), *pipeline[at:]]


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_config_builds_the_published_segmentor(name):
    millions, lr, decay, amp, batch, crop = PUBLISHED[name]
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/mmseg', name))
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == millions
    assert set(cfg.model.backbone) == {'type', 'arch', 'window_size', 'drop_path_rate', 'out_indices', 'init_cfg'}
    assert cfg.optim_wrapper.optimizer.lr == lr and cfg.optim_wrapper.optimizer.weight_decay == decay
    assert (cfg.optim_wrapper.type == 'AmpOptimWrapper') == amp
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'norm': {'decay_mult': 0.0}}
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'PolyLR'] and cfg.param_scheduler[0].end == 1500
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == batch
    assert cfg.crop_size == crop and cfg.model.test_cfg.mode == 'whole'
    resize = [t for t in cfg.test_pipeline if t.type == 'Resize'][0]
    assert resize.keep_ratio and resize.scale == (4 * crop[0], crop[0])
    base = Config.fromfile(os.path.join(get_installed_path('mmseg'), '.mim/configs/_base_/datasets',
                                        'ade20k.py' if crop == (512, 512) else 'ade20k_640x640.py'))
    assert cfg.train_dataloader.dataset.pipeline == with_label_check(base.train_pipeline)
    assert cfg.val_dataloader.dataset.pipeline == with_label_check(base.test_pipeline)
    assert [h.type for h in cfg.custom_hooks] == ['PlainCheckpointHook', 'DatasetCheckHook', 'ExactResumeHook',
                                                  'NonFiniteLossHook']
    variant = name.split('_')[1].split('-')[1]
    if variant in ('t', 'b'):  # the variants with a published listing
        assert shapes(model.state_dict(), 'backbone.') == read_listing(variant)


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """Two training images, three iterations with our tools/train.py from a published-style ImageNet file:
    the working folder and the log."""
    from mambavision_backbone import MambaVision
    cwd = tmp_path_factory.mktemp('seg')
    generate_ade20k(str(cwd / 'data/toy_ade'), train=2, val=2)
    published_classification(MambaVision('tiny'), str(cwd / 'imagenet.pth.tar'))
    (cwd / 'toy_imagenet.py').write_text(
        f"_base_ = [{TOY!r}]\nmodel = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', "
        "checkpoint='imagenet.pth.tar')))\n")
    log = run_tool([os.path.join(ROOT, 'tools/train.py'), 'toy_imagenet.py', '--work-dir', 'work', *TRAIN_ARGS], cwd)
    return cwd, log


def test_train_through_our_tools(toy_run):
    cwd, log = toy_run
    assert 'Iter(train) [3/3]' in log and 'mIoU:' in log
    assert log.count('no CUDA device: automatic mixed precision is switched off') == 1
    assert 'loaded 245/253 backbone tensors from imagenet.pth.tar' in log
    assert log.count('fully unpickled') == 1 and 'Namespace' in log  # the pickled training arguments
    assert re.search(r'\(VERY_HIGH *\) DatasetCheckHook', log)  # in the runner's table of hooks
    torch.load(cwd / 'work/iter_3.pth', weights_only=True)


def test_packaged_test_and_ours_print_the_same_metrics(toy_run):
    # Training through mmseg's own train.py is tested with a killed and resumed run (test_crash_safe_training).
    cwd, _ = toy_run
    theirs = run_tool([packaged_tool('mmseg', 'test.py'), TOY, 'work/iter_3.pth', '--work-dir', 'test_packaged'], cwd)
    ours = run_tool([os.path.join(ROOT, 'tools/test.py'), TOY, 'work/iter_3.pth', '--work-dir', 'test_ours',
                     '--show-dir', 'painted'], cwd)
    metrics = [[line.split('Iter(test) [2/2]')[1].split('data_time')[0] for line in out.splitlines()
                if 'Iter(test) [2/2]' in line][0] for out in (theirs, ours)]
    assert 'aAcc:' in metrics[0] and 'mIoU:' in metrics[0] and 'mAcc:' in metrics[0]
    assert metrics[0] == metrics[1]
    assert 'per class results' in ours and re.search(r'\| +background +\|', ours)
    painted = [f for _, _, files in os.walk(cwd / 'painted') for f in files if f.endswith('.png')]
    assert len(painted) == 2


def test_mmseg_inferencer_with_only_the_config_importing_the_plugin(toy_run):
    cwd, _ = toy_run
    code = ('from mmseg.apis import MMSegInferencer; '
            f"inferencer = MMSegInferencer(model={TOY!r}, weights='work/iter_3.pth', device='cpu'); "
            "result = inferencer('data/toy_ade/images/validation/toy_validation_000000.jpg'); "
            "print('shape', result['predictions'].shape)")
    out = run_tool(['-c', code], cwd)
    image = cv2.imread(str(cwd / 'data/toy_ade/images/validation/toy_validation_000000.jpg'))
    assert f'shape {image.shape[:2]}' in out


def test_infer_tool_paints_the_classes_with_a_legend(toy_run):
    cwd, _ = toy_run
    out = run_tool([os.path.join(ROOT, 'tools/infer.py'), TOY, 'work/iter_3.pth', 'data/toy_ade/images/validation',
                    '--out-dir', 'inferred'], cwd)
    assert 'wrote 2 painted images' in out
    image = cv2.imread(str(cwd / 'data/toy_ade/images/validation/toy_validation_000000.jpg'))
    painted = cv2.imread(str(cwd / 'inferred/vis/toy_validation_000000.jpg'))
    record = json.loads((cwd / 'inferred/preds/toy_validation_000000.json').read_text())
    assert painted.shape[1] == image.shape[1] and painted.shape[0] > image.shape[0]  # the legend below
    assert (record['height'], record['width']) == image.shape[:2]
    assert set(record['class_fractions']) <= {'background', 'rectangle', 'ellipse', 'triangle'}
    assert sum(record['class_fractions'].values()) == pytest.approx(1.0)


def test_paint_segmentation_blends_and_lists_classes_by_area():
    from mmengine_plugin.inference import paint_segmentation
    image = np.zeros((4, 10, 3), np.uint8)
    labels = np.zeros((4, 10), np.int64)
    labels[:, 7:] = 2
    painted, fractions = paint_segmentation(image, labels, ('a', 'b', 'c'), [(200, 0, 0), (0, 200, 0), (0, 0, 200)])
    assert fractions == {'a': 0.7, 'c': 0.3}
    assert painted[0, 0].tolist() == [0, 0, 100] and painted[0, 9].tolist() == [100, 0, 0]  # BGR, half opacity
    assert painted[0, 6].tolist() == [255, 255, 255]  # the boundary between the two regions
    assert painted.shape == (4 + 6 + 2 * 22, 10, 3)  # two legend rows


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_sliding_window_testing(toy_run):
    cwd, _ = toy_run
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), TOY, 'work/iter_3.pth', '--work-dir', 'slide',
                    '--cfg-options', 'model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(128,128)',
                    'model.test_cfg.stride=(85,85)'], cwd)
    assert 'mIoU:' in out


@pytest.mark.parametrize('size', [(183, 277), (97, 301), (33, 45)])
def test_inference_at_odd_sizes(size):
    """Whole-image inference where the feature maps are not multiples of the windows."""
    cfg = Config.fromfile(TOY)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    model = MODELS.build(cfg.model).eval()
    sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size, padding_size=[0] * 4))
    with torch.no_grad():
        result = model.predict(torch.randn(1, 3, *size), [sample])[0]
    assert result.pred_sem_seg.data.shape == (1, *size)
    assert int(result.pred_sem_seg.data.max()) < 4


def toy_dataset(root, split='training', **kwargs):
    from mmseg.datasets import BaseSegDataset
    return BaseSegDataset(data_root=root, img_suffix='.jpg', seg_map_suffix='.png',
                          metainfo=dict(classes=('background', 'rectangle', 'ellipse', 'triangle')),
                          data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
                          **kwargs)


def test_missing_annotation_is_reported(tmp_path):
    from mmengine_plugin import DatasetError, check_dataset
    root = generate_ade20k(str(tmp_path / 'ade'), train=2, val=1)
    check_dataset(toy_dataset(root))
    os.remove(os.path.join(root, 'annotations/training/toy_training_000001.png'))
    with pytest.raises(DatasetError, match=r'1 of 2 images of BaseSegDataset .* have no annotation, e.g. '
                                           r'.*toy_training_000001.jpg \(expected .*toy_training_000001.png\)'):
        check_dataset(toy_dataset(root))


def test_out_of_range_labels_name_the_file(tmp_path):
    root = generate_ade20k(str(tmp_path / 'ade'), train=1, val=1)
    bad = os.path.join(root, 'annotations/training/toy_training_000000.png')
    label = cv2.imread(bad, cv2.IMREAD_GRAYSCALE)
    label[:5, :5] = 200
    cv2.imwrite(bad, label)
    init_default_scope('mmseg')
    pipeline = Config.fromfile(TOY).train_pipeline
    assert pipeline[2] == dict(type='CheckSegLabels', num_classes=4)
    with pytest.raises(ValueError, match=r'toy_training_000000.png: label values \[200\] are outside 0..3'):
        toy_dataset(root, pipeline=pipeline)[0]
