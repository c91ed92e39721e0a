"""Detection end to end through tools/train.py and tools/test.py on generated data (CPU)."""
import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmdet')

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
TOY = os.path.join(ROOT, 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py')
FAST = ['default_hooks.logger.interval=1', 'randomness.seed=0']


def run_tool(args, cwd, env=None):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900,
                            env={**os.environ, 'PYTHONUNBUFFERED': '1', **(env or {})})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def train(cwd, work_dir, epochs, *extra):
    return run_tool([sys.executable, os.path.join(ROOT, 'tools/train.py'), TOY, '--work-dir', work_dir, *extra,
                     '--cfg-options', f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', *FAST],
                    cwd)


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """Two training images, one epoch: the work dir and the training log."""
    cwd = tmp_path_factory.mktemp('det')
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from generate_coco import generate
    generate(str(cwd / 'data/toy_coco'), train=2, val=1)
    log = train(cwd, 'work', 1)
    return cwd, log


def test_training_falls_back_to_cpu_and_writes_safe_checkpoints(toy_run):
    cwd, log = toy_run
    assert log.count('no CUDA device: SyncBN layers are built as BN') == 1
    assert log.count('no CUDA device: automatic mixed precision is switched off') == 1
    assert 'Epoch(train) [1][1/1]' in log
    checkpoint = torch.load(cwd / 'work/epoch_1.pth', weights_only=True)  # plain data: safe loading works
    assert checkpoint['meta']['epoch'] == 1
    assert any(k.startswith('backbone.levels.2.blocks.0.mixer.A_log') for k in checkpoint['state_dict'])


def test_test_tool_prints_coco_bbox_and_segm_map(toy_run):
    cwd, _ = toy_run
    out = run_tool([sys.executable, os.path.join(ROOT, 'tools/test.py'), TOY, 'work/epoch_1.pth',
                    '--work-dir', 'test_work', '--show-dir', 'painted', '--out', 'preds.pkl',
                    '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0'], cwd)
    assert 'Evaluating bbox' in out and 'Evaluating segm' in out
    assert 'coco/bbox_mAP:' in out and 'coco/segm_mAP:' in out
    assert 'fully unpickled' not in out
    assert os.path.getsize(cwd / 'preds.pkl') > 0
    painted = [f for _, _, files in os.walk(cwd / 'painted') for f in files if f.endswith('.jpg')]
    assert painted, 'no painted prediction images'


def test_testing_never_needs_the_imagenet_file(toy_run):
    """The published config's ImageNet path does not exist here; testing must not touch it."""
    cwd, _ = toy_run
    out = run_tool([sys.executable, os.path.join(ROOT, 'tools/test.py'), TOY, 'work/epoch_1.pth',
                    '--work-dir', 'test_work2', '--cfg-options', 'model.backbone.pretrained=missing.pth'], cwd)
    assert 'coco/bbox_mAP:' in out


def test_missing_imagenet_file_stops_training_with_advice(toy_run):
    cwd, _ = toy_run
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'tools/train.py'), TOY, '--work-dir', 'w3',
                             '--cfg-options', 'model.backbone.pretrained=checkpoints/missing.pth.tar'],
                            cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert 'pretrained MambaVision checkpoint not found: checkpoints/missing.pth.tar' in result.stderr
    assert 'model.backbone.init_cfg=None' in result.stderr


def test_resume_continues_where_the_run_stopped(toy_run):
    cwd, _ = toy_run
    log = train(cwd, 'work', 2, '--resume')
    assert 'resumed epoch: 1, iter: 1' in log
    assert 'Epoch(train) [2][1/1]' in log and 'Epoch(train) [1]' not in log
    assert torch.load(cwd / 'work/epoch_2.pth', weights_only=True)['meta']['iter'] == 2


def test_bad_data_is_reported_with_the_file(toy_run, tmp_path):
    cwd, _ = toy_run
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from common import DatasetError, check_coco_dataset
    root = str(cwd / 'data/toy_coco')
    dataset = dict(type='CocoDataset', data_root=root, ann_file='annotations/instances_train2017.json',
                   data_prefix=dict(img='train2017/'), metainfo=dict(classes=('rectangle', 'ellipse', 'triangle')))
    check_coco_dataset(dataset)
    with pytest.raises(DatasetError, match=r"categories \[.*\] that are not in the dataset's metainfo"):
        check_coco_dataset(dict(dataset, metainfo=dict(classes=('rectangle',))))
    with pytest.raises(DatasetError, match='missing from .*val2017.*, e.g.'):
        check_coco_dataset(dict(dataset, data_prefix=dict(img='val2017/')))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [')
    with pytest.raises(DatasetError, match='broken.json is not valid JSON'):
        check_coco_dataset(dict(dataset, data_root='', ann_file=str(broken)))
    (tmp_path / 'odd.json').write_text(json.dumps({'images': []}))
    with pytest.raises(DatasetError, match='odd.json is not in COCO format'):
        check_coco_dataset(dict(dataset, data_root='', ann_file=str(tmp_path / 'odd.json')))


def test_two_process_distributed_training_on_cpu(toy_run):
    cwd, _ = toy_run
    out = run_tool(['bash', os.path.join(ROOT, 'tools/dist_train.sh'), TOY, '2', '--work-dir', 'dist',
                    '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    'train_dataloader.batch_size=1', *FAST],
                   cwd, env={'PYTHON': sys.executable, 'PORT': '29517', 'OMP_NUM_THREADS': '1'})
    assert 'distributed processes run on the CPU with the gloo backend' in out
    assert 'Distributed training: True' in out
    assert 'Epoch(train) [1][1/1]' in out  # two images, one per process: one iteration
    assert os.path.exists(cwd / 'dist/epoch_1.pth')


def test_published_style_checkpoints_load_and_say_they_were_unpickled(tmp_path, package_logs):
    """Checkpoints written by plain mmengine pickle HistoryBuffer objects: loaded, with a logged reason."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from common import load_local_checkpoint
    path = tmp_path / 'published.pth'
    torch.save({'meta': {'epoch': 36}, 'state_dict': {'backbone.outnorm0.weight': torch.ones(80)},
                'message_hub': {'log_scalars': {'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])},
                                'runtime_info': {'eta': np.float64(0.0)}}}, path)
    checkpoint = load_local_checkpoint(str(path))
    assert torch.equal(checkpoint['state_dict']['backbone.outnorm0.weight'], torch.ones(80))
    assert any('fully unpickled' in m and 'HistoryBuffer' in m for m in package_logs), package_logs
