"""Crash-safe training (docs/crash_safe_training.md), end to end on generated data with micro models (CPU).

A run killed with SIGKILL and resumed ends with the weights of the run never interrupted, through our
tools/train.py and mmdet's/mmseg's own, with and without data-loader workers; broken checkpoints, NaN losses,
bad files and bad configs stop or are passed over with one line that names them.
"""
import os
import shutil

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

from mmengine_plugin.safe_checkpoint import checkpoint_problem  # noqa: E402
from mmengine_plugin.toy_data import generate_ade20k, generate_coco  # noqa: E402

from .helpers import (ROOT, checkpoint_weights, kill_when_logged, load_in_fresh_process, packaged_tool,  # noqa: E402
                      run_tool)

CONFIGS = os.path.join(ROOT, 'tests/data/configs')
DET = os.path.join(CONFIGS, 'cascade-mask-rcnn_mambavision-micro_toy-shapes.py')  # 3 epochs of 3 iterations
SEG = os.path.join(CONFIGS, 'upernet_mambavision-micro_toy-shapes-128x128.py')  # 12 iterations, saved every 4
OURS = os.path.join(ROOT, 'tools/train.py')


def max_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def workers(n):
    return ['--cfg-options', f'train_dataloader.num_workers={n}', f'train_dataloader.persistent_workers={n > 0}']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """A folder with both toy datasets: 6 detection images (3 batches of 2), 4 segmentation images."""
    cwd = tmp_path_factory.mktemp('crash')
    generate_coco(str(cwd / 'data/toy_coco'), train=6, val=1, size=(160, 128))
    generate_ade20k(str(cwd / 'data/toy_ade'), train=4, val=1)
    return cwd


@pytest.fixture(scope='module')
def det_reference(data):
    """The detection run never interrupted (our train.py, no workers)."""
    run_tool([OURS, DET, '--work-dir', 'det_reference'], data)
    return checkpoint_weights(data / 'det_reference/epoch_3.pth')


@pytest.fixture(scope='module')
def seg_reference(data):
    """The segmentation run never interrupted (our train.py, no workers)."""
    run_tool([OURS, SEG, '--work-dir', 'seg_reference'], data)
    return data / 'seg_reference'


@pytest.mark.parametrize('tool,num_workers', [('mmdet', 2), ('ours', 0)])
def test_detection_killed_mid_epoch_resumes_to_the_same_weights(data, det_reference, tool, num_workers):
    train = packaged_tool('mmdet', 'train.py') if tool == 'mmdet' else OURS
    work = f'det_killed_{tool}'
    log = kill_when_logged([train, DET, '--work-dir', work, *workers(num_workers)], data, 'Epoch(train) [2][1/3]')
    assert 'Epoch(train) [2][1/3]' in log and not os.path.exists(data / work / 'epoch_3.pth')
    log = run_tool([train, DET, '--work-dir', work, '--resume', *workers(num_workers)], data)
    assert 'resumed epoch: 1, iter: 3' in log and 'Epoch(train) [1]' not in log
    assert max_difference(checkpoint_weights(data / work / 'epoch_3.pth'), det_reference) <= 1e-6
    hub = torch.load(data / work / 'epoch_3.pth', weights_only=True)['message_hub']
    assert hub['log_scalars']['train/loss']['count'] == [1] * 9  # epoch 1's losses came back from the checkpoint
    assert 'message_hub' in load_in_fresh_process(data / work / 'epoch_3.pth')


@pytest.mark.parametrize('tool,num_workers', [('mmseg', 0), ('ours', 2)])
def test_segmentation_killed_mid_run_resumes_to_the_same_weights(data, seg_reference, tool, num_workers):
    train = packaged_tool('mmseg', 'train.py') if tool == 'mmseg' else OURS
    work = f'seg_killed_{tool}'
    log = kill_when_logged([train, SEG, '--work-dir', work, *workers(num_workers)], data, 'Iter(train) [ 6/12]')
    assert not os.path.exists(data / work / 'iter_12.pth')
    log = run_tool([train, SEG, '--work-dir', work, '--resume', *workers(num_workers)], data)
    assert 'resumed epoch: 0, iter: 4' in log and 'Iter(train) [ 4/12]' not in log
    assert 'the 4 batches already trained are drawn again without loading them' in log
    reference = checkpoint_weights(seg_reference / 'iter_12.pth')
    assert max_difference(checkpoint_weights(data / work / 'iter_12.pth'), reference) <= 1e-6


def test_resume_passes_over_a_truncated_checkpoint(data, seg_reference):
    work = data / 'seg_truncated'
    shutil.copytree(seg_reference, work)
    newest = work / 'iter_12.pth'
    newest.write_bytes(newest.read_bytes()[:100_000])  # what a kill during a plain torch.save leaves
    (work / 'iter_8.pth').write_bytes(b'')
    (work / 'last_checkpoint').write_text(str(newest))
    log = run_tool([OURS, SEG, '--work-dir', 'seg_truncated', '--resume'], data)
    assert f'skipped checkpoint {newest}: it is truncated or corrupt' in log
    assert f"skipped checkpoint {work / 'iter_8.pth'}: it is empty (0 bytes)" in log
    assert f"resuming from {work / 'iter_4.pth'}, the newest readable checkpoint" in log
    assert 'resumed epoch: 0, iter: 4' in log
    assert max_difference(checkpoint_weights(newest), checkpoint_weights(seg_reference / 'iter_12.pth')) <= 1e-6
    # The checkpoints written on the way are whole and last_checkpoint names the newest; no temporary file is left.
    assert (work / 'last_checkpoint').read_text() == str(newest)
    assert not [name for name in os.listdir(work) if name.endswith('.tmp')]


def test_nan_loss_stops_with_one_line_naming_iteration_terms_and_checkpoint(data, seg_reference):
    work = data / 'seg_nan'
    shutil.copytree(seg_reference, work)
    for name in ('iter_8.pth', 'iter_12.pth'):
        os.remove(work / name)
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    out = run_tool([packaged_tool('mmseg', 'train.py'), SEG, '--work-dir', 'seg_nan', '--resume', '--cfg-options',
                    'model.decode_head.loss_decode.loss_weight=nan'], data, ok=False)
    stop = [line for line in out.splitlines() if 'non-finite loss' in line]
    assert len(stop) == 1, out[-3000:]
    assert stop[0].endswith(f"non-finite loss at iteration 5: loss=nan, decode.loss_ce=nan; last good checkpoint: "
                            f"{work / 'iter_4.pth'}; training stopped")
    assert 'Iter(train) [ 5/12]' not in out and not os.path.exists(work / 'iter_8.pth')


def test_truncated_image_mid_epoch_is_named_with_workers(data, tmp_path):
    shutil.copytree(data / 'data', tmp_path / 'data')
    image = tmp_path / 'data/toy_ade/images/training/toy_training_000002.jpg'
    image.write_bytes(image.read_bytes()[:600])
    out = run_tool([OURS, SEG, '--work-dir', 'w', *workers(2)], tmp_path, ok=False)
    assert 'BadSampleError' in out
    assert 'data/toy_ade/images/training/toy_training_000002.jpg is a truncated JPEG (no end-of-image marker)' in out


def test_empty_annotation_map_is_skipped_and_counted_when_configured(data, tmp_path):
    shutil.copytree(data / 'data', tmp_path / 'data')
    (tmp_path / 'data/toy_ade/annotations/training/toy_training_000001.png').write_bytes(b'')
    out = run_tool([OURS, SEG, '--work-dir', 'w', *workers(2), 'train_dataloader.sampler.skip_bad_samples=True',
                    'train_cfg.max_iters=4'], tmp_path)
    skipped = [line for line in out.splitlines() if 'skipped training sample' in line]
    # 4 iterations of 2 samples from 4 images: the bad one comes up at least twice (workers load ahead), each
    # time replaced; the two workers share the count
    assert len(skipped) >= 2 and all('data/toy_ade/annotations/training/toy_training_000001.png is empty (0 bytes)'
                                     in line for line in skipped)
    counts = sorted(int(line.rsplit('(', 1)[1].split()[0]) for line in skipped)
    assert counts == list(range(1, len(skipped) + 1))
    assert 'Iter(train) [4/4]' in out


def build_runner(config, work_dir, options):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize('config,options,error,message', [
    (DET, {'model.backbone.drop_path_rat': 0.1}, TypeError,
     "MambaVision has no argument 'drop_path_rat' (did you mean 'drop_path_rate'?); its arguments are arch, dim, "),
    (DET, {'model.backbone.arch': 'tinyy'}, ValueError,
     "unknown MambaVision arch 'tinyy'; choose one of ['b', 'base', 'l', 'l2', "),
    (SEG, {'model.backbone.window_size': (8, 8, 8)}, ValueError,
     "depths, num_heads and window_size need one entry per stage (4); got {'depths': 4, 'num_heads': 4, "
     "'window_size': 3}"),
])
def test_bad_backbone_settings_are_one_line_errors_when_the_runner_is_built(tmp_path, config, options, error,
                                                                            message):
    with pytest.raises(error) as raised:
        build_runner(config, tmp_path, options)
    assert message in str(raised.value) and '\n' not in str(raised.value)


def test_num_classes_that_disagree_with_the_data_stop_before_any_image_is_read(data, monkeypatch, tmp_path):
    from mmengine_plugin import DatasetError
    monkeypatch.chdir(data)
    runner = build_runner(SEG, tmp_path, {'model.decode_head.num_classes': 5})
    with pytest.raises(DatasetError) as raised:
        runner.train()
    assert str(raised.value) == ("model.decode_head.num_classes=5 but the training data set has 4 classes "
                                 "('background', 'rectangle', 'ellipse', 'triangle'): set num_classes=4")
    assert runner.iter == 0


class TinyModel(BaseModel):
    """y = w.x + b, trained to zero: small enough to run a Runner in the test process."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def tiny_runner(work_dir, samples, name, max_epochs=1, hooks=(), resume=False, load_from=None, **checkpoint):
    from mmengine.runner import Runner
    torch.manual_seed(0)
    return Runner(model=TinyModel(), work_dir=str(work_dir), experiment_name=name, resume=resume, load_from=load_from,
                  train_dataloader=dict(dataset=[dict(inputs=torch.tensor(s)) for s in samples], batch_size=1,
                                        sampler=dict(type='DefaultSampler', shuffle=False),
                                        collate_fn=dict(type='pseudo_collate')),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                  train_cfg=dict(by_epoch=True, max_epochs=max_epochs), custom_hooks=list(hooks),
                  default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, **checkpoint)),
                  randomness=dict(seed=0))


def run_log(runner) -> str:
    with open(runner.logger.handlers[-1].baseFilename) as f:
        return f.read()


@pytest.mark.parametrize('action', ['skip', 'warn'])
def test_nan_loss_skip_or_warn_as_configured(tmp_path, action):
    from mmengine_plugin import NonFiniteLossHook
    good, bad = [[1.0, 2.0], [3.0, -1.0]], [float('nan'), 0.0]
    runner = tiny_runner(tmp_path / action, [good[0], bad, good[1]], f'nan_{action}',
                         hooks=[NonFiniteLossHook(action=action)])
    runner.train()
    assert (f'non-finite loss at iteration 2 (epoch 1, batch 2): loss=nan; last good checkpoint: none saved yet; '
            f"the step was {'skipped' if action == 'skip' else 'applied'} (1 so far)") in run_log(runner)
    trained = runner.model.linear.weight.detach()
    if action == 'warn':
        assert torch.isnan(trained).all()
    else:  # the same weights as a run that never met the sample
        clean = tiny_runner(tmp_path / 'clean', good, 'nan_clean')
        clean.train()
        assert torch.equal(trained, clean.model.linear.weight.detach())


def test_a_crash_while_saving_keeps_the_previous_checkpoint_and_pointer(tmp_path, monkeypatch):
    first = tiny_runner(tmp_path, [[1.0, 2.0]], 'save_first', max_keep_ckpts=1)
    first.train()
    saved = str(tmp_path / 'epoch_1.pth')
    second = tiny_runner(tmp_path, [[1.0, 2.0]], 'save_second', max_epochs=2, resume=True, max_keep_ckpts=1)

    def killed_while_writing(out_dir, filename, *args, **kwargs):
        with open(os.path.join(out_dir, filename), 'wb') as f:
            f.write(b'PK\x03\x04 half a checkpoint')
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr(second, 'save_checkpoint', killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        second.train()
    # mmengine would have removed epoch_1.pth (max_keep_ckpts=1) before writing epoch_2.pth
    assert checkpoint_problem(saved) is None and not os.path.exists(tmp_path / 'epoch_2.pth')
    assert (tmp_path / 'last_checkpoint').read_text() == saved
    assert checkpoint_problem(str(tmp_path / 'epoch_2.pth.tmp')).startswith('is truncated or corrupt')


def test_resume_from_a_named_broken_or_missing_checkpoint_is_refused(tmp_path):
    from mmengine_plugin import CheckpointError
    tiny_runner(tmp_path, [[1.0, 2.0]], 'named_saved').train()
    broken = tmp_path / 'broken.pth'
    broken.write_bytes((tmp_path / 'epoch_1.pth').read_bytes()[:500])
    runner = tiny_runner(tmp_path / 'w', [[1.0, 2.0]], 'named_broken', resume=True, load_from=str(broken))
    with pytest.raises(CheckpointError, match=f'^cannot resume from {broken}: it is truncated or corrupt'):
        runner.train()
    runner = tiny_runner(tmp_path / 'w', [[1.0, 2.0]], 'named_missing', resume=True, load_from='missing.pth')
    with pytest.raises(FileNotFoundError, match=r'^checkpoint missing.pth \(load_from / --resume PATH\) does not'):
        runner.train()
    assert runner.iter == 0


class DrawingDataset:
    """Three samples that draw a random number each; sample 1's pipeline fails (a bug, not bad data)."""

    def __init__(self, image):
        self.image = image

    def __len__(self):
        return 3

    def get_data_info(self, index):
        return dict(img_path=self.image)

    def __getitem__(self, index):
        if index == 1:
            raise KeyError('gt_masks')
        return np.random.rand(), torch.rand(()).item()


def test_samples_draw_from_their_own_seed_and_failing_pipelines_are_named_not_skipped(data):
    from mmengine_plugin.dataset_checks import DatasetError
    from mmengine_plugin.randomness import SeededIndex
    from mmengine_plugin.sampling import BadSampleError, SampleFetcher
    image = str(data / 'data/toy_ade/images/training/toy_training_000000.jpg')
    fetcher = SampleFetcher(DrawingDataset(image), skip_bad_samples=True)
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    first = fetcher([SeededIndex(0, 7), SeededIndex(2, 7), SeededIndex(0, 8)])
    assert first[0] == first[1] != first[2]  # the seed decides, not the index or what was drawn before
    assert fetcher([SeededIndex(0, 8)]) == first[2:]
    assert (np.random.get_state()[1] == state).all()  # the main process's stream did not move
    fetcher.placeholders_before.value = 5  # a resumed run replaying its first 5 samples (SeededSampler.pass_over)
    assert fetcher([SeededIndex(2, 7, position=4), SeededIndex(2, 7, position=5)]) == [{}, first[1]]
    with pytest.raises(DatasetError, match=f'^training sample 1 \\({image}\\) failed to load: KeyError') as raised:
        fetcher([SeededIndex(1, 7, position=5)])
    assert not isinstance(raised.value, BadSampleError) and fetcher.skipped.value == 0


def test_resume_without_a_readable_checkpoint_trains_from_the_start(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')  # all a kill left of the first save under mmengine's writes
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'resume_from_nothing', resume=True)
    runner.train()
    log = run_log(runner)
    assert f"skipped checkpoint {tmp_path / 'epoch_1.pth'}: it is empty (0 bytes)" in log
    assert f'--resume: no readable checkpoint in {tmp_path}; training from the start' in log
    assert runner.epoch == 1 and checkpoint_problem(str(tmp_path / 'epoch_1.pth')) is None
