"""Crash-safe training (docs/crash_safe_training.md), end to end on generated data with micro models (CPU).

A run killed with SIGKILL and resumed ends with the weights of the run never interrupted, through our
tools/train.py and mmdet's/mmseg's own, with and without data-loader workers; broken checkpoints and NaN losses
stop or are passed over with one line that names them.
"""
import os
import shutil

import pytest
import torch

from mambavision_mm.engine.checkpoint import load_local_checkpoint

from ...helpers.checkpoints import checkpoint_weights, max_difference
from ...helpers.paths import DATA, MICRO_DET, MICRO_SEG, TRAIN, packaged_tool
from ...helpers.processes import kill_when_logged, load_in_fresh_process, run_tool
from ...helpers.training import workers


@pytest.fixture(scope='module')
def det_reference(micro_data):
    """The detection run never interrupted (our train.py, no workers)."""
    run_tool([TRAIN, MICRO_DET, '--work-dir', 'det_reference'], micro_data)
    return checkpoint_weights(micro_data / 'det_reference/epoch_3.pth')


@pytest.fixture(scope='module')
def seg_reference(micro_data):
    """The segmentation run never interrupted (our train.py, no workers)."""
    run_tool([TRAIN, MICRO_SEG, '--work-dir', 'seg_reference'], micro_data)
    return micro_data / 'seg_reference'


@pytest.fixture(scope='module')
def stock_det(micro_data):
    """The micro detection config as mmengine alone runs it (its CheckpointHook and DefaultSampler, none of our
    hooks), and the weights of its run never interrupted."""
    config = micro_data / 'stock_det.py'
    config.write_text(f'_base_ = [{MICRO_DET!r}]\n'
                      "default_hooks = dict(checkpoint=dict(type='CheckpointHook'))\n"
                      "train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True))\n"
                      'custom_hooks = []\n')
    run_tool([TRAIN, str(config), '--work-dir', 'stock_reference'], micro_data)
    return str(config), stock_weights(micro_data / 'stock_reference/epoch_3.pth')


def stock_weights(path):
    """mmengine's own checkpoints pickle its message hub: they load through the plugin's allow-list."""
    return load_local_checkpoint(str(path))['state_dict']


@pytest.mark.parametrize('tool,num_workers', [('mmdet', 2), ('ours', 0), ('stock', 0)])
def test_detection_killed_mid_epoch_resumes_to_the_same_weights(micro_data, det_reference, tool, num_workers,
                                                                request):
    """With the crash-safe components, through mmdet's train.py and ours; 'stock' is the negative control: without
    them the same kill and resume ends measurably away from the run never interrupted."""
    config, reference = request.getfixturevalue('stock_det') if tool == 'stock' else (MICRO_DET, det_reference)
    train = packaged_tool('mmdet', 'train.py') if tool == 'mmdet' else TRAIN
    work = f'det_killed_{tool}'
    log = kill_when_logged([train, config, '--work-dir', work, *workers(num_workers)], micro_data,
                           'Epoch(train) [2][1/3]')
    assert 'Epoch(train) [2][1/3]' in log and not os.path.exists(micro_data / work / 'epoch_3.pth')
    log = run_tool([train, config, '--work-dir', work, '--resume', *workers(num_workers)], micro_data)
    assert 'resumed epoch: 1, iter: 3' in log and 'Epoch(train) [1]' not in log
    difference = max_difference(stock_weights(micro_data / work / 'epoch_3.pth'), reference)
    print(f'{tool}: largest weight difference from the run never interrupted {difference:.3g}')
    if tool == 'stock':
        assert difference > 1e-2
        return
    assert difference <= 1e-6
    hub = torch.load(micro_data / work / 'epoch_3.pth', weights_only=True)['message_hub']
    assert hub['log_scalars']['train/loss']['count'] == [1] * 9  # epoch 1's losses came back from the checkpoint
    assert 'message_hub' in load_in_fresh_process(micro_data / work / 'epoch_3.pth')


@pytest.mark.parametrize('tool,num_workers', [('mmseg', 0), ('ours', 2)])
def test_segmentation_killed_mid_run_resumes_to_the_same_weights(micro_data, seg_reference, tool, num_workers):
    train = packaged_tool('mmseg', 'train.py') if tool == 'mmseg' else TRAIN
    work = f'seg_killed_{tool}'
    log = kill_when_logged([train, MICRO_SEG, '--work-dir', work, *workers(num_workers)], micro_data,
                           'Iter(train) [ 6/12]')
    assert not os.path.exists(micro_data / work / 'iter_12.pth')
    log = run_tool([train, MICRO_SEG, '--work-dir', work, '--resume', *workers(num_workers)], micro_data)
    assert 'resumed epoch: 0, iter: 4' in log and 'Iter(train) [ 4/12]' not in log
    assert 'the 4 batches already trained are drawn again without loading them' in log
    reference = checkpoint_weights(seg_reference / 'iter_12.pth')
    assert max_difference(checkpoint_weights(micro_data / work / 'iter_12.pth'), reference) <= 1e-6


@pytest.mark.slow  # three training runs (80 s on an AMD EPYC): make test stays within its 10 minutes
def test_ema_and_layer_decay_killed_and_resumed_through_mmsegs_train(micro_data):
    """The custom-data templates' fine-tuning options: the EMA weights (saved as the model's) and the trained ones
    (saved beside them) of a killed and resumed run are those of the run never interrupted; the learning rates
    decay per layer."""
    config = os.path.join(DATA, 'configs/upernet_mambavision-micro_toy-shapes-ema-llrd.py')
    train = packaged_tool('mmseg', 'train.py')
    run_tool([train, config, '--work-dir', 'ema_reference'], micro_data)
    kill_when_logged([train, config, '--work-dir', 'ema_killed'], micro_data, 'Iter(train) [ 6/12]')
    log = run_tool([train, config, '--work-dir', 'ema_killed', '--resume'], micro_data)
    assert 'resumed epoch: 0, iter: 4' in log
    reference, resumed = (torch.load(micro_data / work / 'iter_12.pth', weights_only=True)
                          for work in ('ema_reference', 'ema_killed'))
    assert max_difference(resumed['state_dict'], reference['state_dict']) <= 1e-6
    trained = {k[len('module.'):]: v for k, v in reference['ema_state_dict'].items() if k.startswith('module.')}
    assert max_difference(resumed['ema_state_dict'], reference['ema_state_dict']) <= 1e-6
    assert max_difference(reference['state_dict'], trained) > 1e-3  # the average is not the trained weights
    scales = sorted({round(group['lr_scale'], 6) for group in resumed['optimizer']['param_groups']})
    assert scales == [round(0.8 ** k, 6) for k in range(5, -1, -1)]  # stem 0.8 ** 5 .. heads 1



def test_ema_and_stage_decay_through_mmdets_train(micro_data):
    """mmdet's ExpMomentumEMA and the stage-wise learning-rate decay in one epoch of mmdet's own train.py: the
    average is saved as the model's weights and differs from the trained ones; the learning rates decay per
    stage."""
    config = os.path.join(DATA, 'configs/cascade-mask-rcnn_mambavision-micro_toy-shapes-ema-llrd.py')
    run_tool([packaged_tool('mmdet', 'train.py'), config, '--work-dir', 'det_ema'], micro_data)
    saved = torch.load(micro_data / 'det_ema/epoch_1.pth', weights_only=True)
    trained = {k[len('module.'):]: v for k, v in saved['ema_state_dict'].items() if k.startswith('module.')}
    assert max_difference(saved['state_dict'], trained) > 1e-4
    scales = sorted({round(group['lr_scale'], 6) for group in saved['optimizer']['param_groups']})
    assert scales == [round(0.8 ** k, 6) for k in range(5, -1, -1)]  # stem 0.8 ** 5, stages, heads 1

def test_resume_passes_over_a_truncated_checkpoint(micro_data, seg_reference):
    work = micro_data / 'seg_truncated'
    shutil.copytree(seg_reference, work)
    newest = work / 'iter_12.pth'
    newest.write_bytes(newest.read_bytes()[:100_000])  # what a kill during a plain torch.save leaves
    (work / 'iter_8.pth').write_bytes(b'')
    (work / 'last_checkpoint').write_text(str(newest))
    log = run_tool([TRAIN, MICRO_SEG, '--work-dir', 'seg_truncated', '--resume'], micro_data)
    assert f'skipped checkpoint {newest}: it is truncated or corrupt' in log
    assert f"skipped checkpoint {work / 'iter_8.pth'}: it is empty (0 bytes)" in log
    assert f"resuming from {work / 'iter_4.pth'}, the newest readable checkpoint" in log
    assert 'resumed epoch: 0, iter: 4' in log
    assert max_difference(checkpoint_weights(newest), checkpoint_weights(seg_reference / 'iter_12.pth')) <= 1e-6
    # The checkpoints written on the way are whole and last_checkpoint names the newest; no temporary file is left.
    assert (work / 'last_checkpoint').read_text() == str(newest)
    assert not [name for name in os.listdir(work) if name.endswith('.tmp')]


def test_nan_loss_stops_with_one_line_naming_iteration_terms_and_checkpoint(micro_data, seg_reference):
    work = micro_data / 'seg_nan'
    shutil.copytree(seg_reference, work)
    for name in ('iter_8.pth', 'iter_12.pth'):
        os.remove(work / name)
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    out = run_tool([packaged_tool('mmseg', 'train.py'), MICRO_SEG, '--work-dir', 'seg_nan', '--resume', '--cfg-options',
                    'model.decode_head.loss_decode.loss_weight=nan'], micro_data, ok=False)
    stop = [line for line in out.splitlines() if 'non-finite loss' in line]
    assert len(stop) == 1, out[-3000:]
    assert stop[0].endswith(f"non-finite loss at iteration 5: loss=nan, decode.loss_ce=nan; last good checkpoint: "
                            f"{work / 'iter_4.pth'}; training stopped")
    assert 'Iter(train) [ 5/12]' not in out and not os.path.exists(work / 'iter_8.pth')
