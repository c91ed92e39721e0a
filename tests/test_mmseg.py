"""Segmentation: configs, the tools end to end on generated ADE20K-layout data, and data checks (CPU)."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from .test_backbone import read_listing, shapes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
TOY = os.path.join(ROOT, 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py')
# (config, parameters the published configs build, lr, weight decay, AMP, train batch per GPU, crop)
PUBLISHED = {
    'upernet_mambavision-t_160k_ade20k-512x512.py': (62.52, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-s_160k_ade20k-512x512.py': (81.79, 6e-5, 0.01, True, 2, (512, 512)),
    'upernet_mambavision-b_160k_ade20k-512x512.py': (131.20, 5e-5, 0.01, True, 1, (512, 512)),
    'upernet_mambavision-l3-21k_160k_ade20k-640x640.py': (780.51, 8e-5, 0.05, False, 1, (640, 640)),
}


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
    variant = name.split('_')[1].split('-')[1]
    if variant in ('t', 'b'):  # the variants with a published listing
        assert shapes(model.state_dict(), 'backbone.') == read_listing(variant)


def run_tool(args, cwd):
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                            env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """Two training images, three iterations: the working folder and the training log."""
    from generate_ade20k import generate
    cwd = tmp_path_factory.mktemp('seg')
    generate(str(cwd / 'data/toy_ade'), train=2, val=2)
    log = run_tool([os.path.join(ROOT, 'tools/train.py'), TOY, '--work-dir', 'work', '--cfg-options',
                    'train_cfg.max_iters=3', 'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
                    'default_hooks.logger.interval=1'], cwd)
    return cwd, log


def test_train_and_test_through_the_tools(toy_run):
    cwd, log = toy_run
    assert 'Iter(train) [3/3]' in log and 'mIoU:' in log
    assert 'no CUDA device: SyncBN layers are built as BN' in log
    torch.load(cwd / 'work/iter_3.pth', weights_only=True)
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), TOY, 'work/iter_3.pth', '--work-dir', 'test',
                    '--show-dir', 'painted'], cwd)
    assert 'per class results' in out and '| rectangle |' in out
    assert 'aAcc:' in out and 'mIoU:' in out and 'mAcc:' in out
    painted = [f for _, _, files in os.walk(cwd / 'painted') for f in files if f.endswith('.png')]
    assert len(painted) == 2


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
    assert int(result.pred_sem_seg.data.max()) < 3


def test_missing_annotation_is_reported(tmp_path):
    from common import DatasetError, check_seg_dataset
    from generate_ade20k import generate
    root = generate(str(tmp_path / 'ade'), train=2, val=1)
    os.remove(os.path.join(root, 'annotations/training/toy_training_000001.png'))
    dataset = dict(type='BaseSegDataset', data_root=root, img_suffix='.jpg', seg_map_suffix='.png',
                   data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))
    with pytest.raises(DatasetError, match=r'toy_training_000001.jpg \(expected .*toy_training_000001.png\)'):
        check_seg_dataset(dataset)


def test_out_of_range_labels_name_the_file(tmp_path):
    from common import check_seg_dataset
    from generate_ade20k import generate
    from mmengine.dataset import Compose
    import mmseg_plugin  # noqa: F401  (registers CheckSegLabels)
    root = generate(str(tmp_path / 'ade'), train=1, val=1)
    bad = os.path.join(root, 'annotations/training/toy_training_000000.png')
    label = cv2.imread(bad, cv2.IMREAD_GRAYSCALE)
    label[:5, :5] = 200
    cv2.imwrite(bad, label)
    dataset = dict(type='BaseSegDataset', data_root=root, img_suffix='.jpg', seg_map_suffix='.png',
                   reduce_zero_label=True, metainfo=dict(classes=('rectangle', 'ellipse', 'triangle')),
                   data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                   pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                             dict(type='PackSegInputs')])
    check_seg_dataset(dataset)
    assert dataset['pipeline'][2] == dict(type='CheckSegLabels', num_classes=3)
    init_default_scope('mmseg')
    pipeline = Compose(dataset['pipeline'])
    results = dict(img_path=bad.replace('annotations', 'images').replace('.png', '.jpg'), seg_map_path=bad,
                   reduce_zero_label=True, seg_fields=[])
    with pytest.raises(ValueError, match=r'toy_training_000000.png: label values \[200\] are outside 0..3'):
        pipeline(results)
    assert np.unique(label).max() == 200
