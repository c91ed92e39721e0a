"""The hooks on a tiny model trained by a Runner in the test process: plain-data checkpoints, atomic
checkpoints and checked resuming, failed saves, non-finite losses."""
import errno
import os

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from torch import nn

from mambavision_mm import CheckpointError, CrashSafeRunner, NonFiniteLossHook, PlainCheckpointHook
from mambavision_mm.engine.checkpoint_files import checkpoint_problem
from mambavision_mm.engine.errors import CheckpointWriteError
from mambavision_mm.engine.restarts import AGENTS_FILE, torchrun_agent

from ...helpers.checkpoints import mmengine_checkpoint
from ...helpers.processes import load_in_fresh_process


def test_plain_checkpoint_hook_round_trip(tmp_path):
    hook, checkpoint = PlainCheckpointHook(), mmengine_checkpoint()
    hook.before_save_checkpoint(None, checkpoint)
    torch.save(checkpoint, tmp_path / 'plain.pth')
    assert "'message_hub', 'meta', 'state_dict'" in load_in_fresh_process(tmp_path / 'plain.pth')
    loaded = torch.load(tmp_path / 'plain.pth', weights_only=True)
    assert loaded['meta']['seed'] == 7 and loaded['message_hub']['runtime_info']['iters'] == [0, 1, 2]
    hook.after_load_checkpoint(None, loaded)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.data[0].tolist() == [1.0, 0.5] and buffer.mean() == 0.75


class TinyModel(BaseModel):
    """y = w.x + b, trained to zero: small enough to run a Runner in the test process."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def tiny_runner(work_dir, samples, name, max_epochs=1, hooks=(), resume=False, load_from=None, cfg=None,
                runner_type=CrashSafeRunner, **checkpoint):
    torch.manual_seed(0)
    return runner_type(model=TinyModel(), work_dir=str(work_dir), experiment_name=name, resume=resume,
                       load_from=load_from,
                       train_dataloader=dict(dataset=[dict(inputs=torch.tensor(s)) for s in samples], batch_size=1,
                                             sampler=dict(type='DefaultSampler', shuffle=False),
                                             collate_fn=dict(type='pseudo_collate')),
                       optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                       train_cfg=dict(by_epoch=True, max_epochs=max_epochs), custom_hooks=list(hooks),
                       default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, **checkpoint)),
                       randomness=dict(seed=0), cfg=cfg)


def run_log(runner) -> str:
    with open(runner.logger.handlers[-1].baseFilename) as f:
        return f.read()


@pytest.mark.parametrize('set_in', ['hook', 'config'])
@pytest.mark.parametrize('action', ['skip', 'warn'])
def test_nan_loss_skip_or_warn_as_configured(tmp_path, action, set_in):
    """The action given to the hook, or the config's non_finite_loss (--cfg-options non_finite_loss=skip)."""
    good, bad = [[1.0, 2.0], [3.0, -1.0]], [float('nan'), 0.0]
    hook = NonFiniteLossHook(action=action) if set_in == 'hook' else NonFiniteLossHook()
    runner = tiny_runner(tmp_path / action, [good[0], bad, good[1]], f'nan_{action}_{set_in}', hooks=[hook],
                         cfg=dict(non_finite_loss=action) if set_in == 'config' else None)
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

    def killed_while_writing(backend, data, path):
        with open(path, 'wb') as f:
            f.write(b'PK\x03\x04 half a checkpoint')
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr(LocalBackend, 'put', killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        second.train()
    # mmengine would have removed epoch_1.pth (max_keep_ckpts=1) before writing epoch_2.pth
    assert checkpoint_problem(saved) is None and not os.path.exists(tmp_path / 'epoch_2.pth')
    assert (tmp_path / 'last_checkpoint').read_text() == saved
    assert checkpoint_problem(str(tmp_path / 'epoch_2.pth.tmp')).startswith('is truncated or corrupt')


def test_no_space_left_during_a_save_stops_in_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """The disk fills while mmengine's writer writes (injected: half the bytes, then ENOSPC); the real small
    file system is in test_fault_injection.py."""
    reference = tiny_runner(tmp_path / 'reference', [[1.0, 2.0]], 'enospc_reference', max_epochs=2)
    reference.train()
    work_dir = tmp_path / 'full'
    first = tiny_runner(work_dir, [[1.0, 2.0]], 'enospc_first', max_epochs=2)
    put = LocalBackend.put

    def disk_full_at_the_second_save(backend, data, path):
        if not str(path).endswith('epoch_2.pth.tmp'):
            return put(backend, data, path)
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(LocalBackend, 'put', disk_full_at_the_second_save)
    with pytest.raises(CheckpointWriteError) as stopped:
        first.train()
    kept = work_dir / 'epoch_1.pth'
    assert str(stopped.value).startswith(f'cannot write checkpoint {work_dir}/epoch_2.pth: No space left on device (')
    assert str(stopped.value).endswith(f'; the previous checkpoint takes {os.path.getsize(kept) / 2**20:.1f} MB); '
                                       f'the last checkpoint, {kept}, is intact; training stopped')
    assert sorted(name for name in os.listdir(work_dir) if 'epoch' in name) == ['epoch_1.pth']
    assert checkpoint_problem(str(kept)) is None and (work_dir / 'last_checkpoint').read_text() == str(kept)
    monkeypatch.undo()  # space freed: the same command with --resume finishes as if nothing had happened
    resumed = tiny_runner(work_dir, [[1.0, 2.0]], 'enospc_resumed', max_epochs=2, resume=True)
    resumed.train()
    assert torch.equal(resumed.model.linear.weight, reference.model.linear.weight)


def test_an_unwritable_checkpoint_folder_stops_before_the_first_iteration(tmp_path):
    blocked = tmp_path / 'file_in_the_way'
    blocked.write_text('')  # a file where the checkpoint folder should be: unwritable, also for root
    runner = tiny_runner(tmp_path / 'w', [[1.0, 2.0]], 'unwritable', out_dir=str(blocked))
    with pytest.raises(CheckpointWriteError, match=f'^cannot write checkpoints into {blocked}/w: '
                                                   r'(Not a directory|File exists); training stopped before the first'):
        runner.train()
    assert runner.iter == 0


def test_resume_from_a_named_broken_or_missing_checkpoint_is_refused(tmp_path):
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


@pytest.mark.parametrize('fault', ['missing', 'corrupt'])
def test_resume_when_last_checkpoint_names_a_missing_or_corrupt_file(tmp_path, fault):
    tiny_runner(tmp_path, [[1.0, 2.0]], f'pointer_{fault}_saved', max_epochs=2).train()
    named = tmp_path / 'epoch_2.pth'
    if fault == 'missing':
        named.unlink()
    else:
        named.write_bytes(named.read_bytes()[:-100])
    assert (tmp_path / 'last_checkpoint').read_text() == str(named)
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], f'pointer_{fault}_resumed', max_epochs=2, resume=True)
    runner.train()
    problem = 'does not exist' if fault == 'missing' else 'is truncated or corrupt'
    log = run_log(runner)
    assert f'skipped checkpoint {named}: it {problem}' in log
    assert f"resuming from {tmp_path / 'epoch_1.pth'}, the newest readable checkpoint" in log
    assert runner.epoch == 2 and checkpoint_problem(str(named)) is None  # epoch 2 trained again and saved


def test_resume_without_a_readable_checkpoint_trains_from_the_start(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')  # all a kill left of the first save under mmengine's writes
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'resume_from_nothing', resume=True)
    runner.train()
    log = run_log(runner)
    assert f"skipped checkpoint {tmp_path / 'epoch_1.pth'}: it is empty (0 bytes)" in log
    assert f'--resume: no readable checkpoint in {tmp_path}; training from the start' in log
    assert runner.epoch == 1 and checkpoint_problem(str(tmp_path / 'epoch_1.pth')) is None


def test_resume_by_another_number_of_processes_is_refused_naming_both(tmp_path):
    from mambavision_mm.engine.hooks.exact_resume_hook import WorldSizeError
    hooks = [dict(type='ExactResumeHook')]
    tiny_runner(tmp_path, [[1.0, 2.0]], 'world_size_saved', hooks=hooks).train()
    saved = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)
    assert saved['meta']['world_size'] == 1
    saved['meta']['world_size'] = 16  # as if two nodes of 8 GPUs had trained it
    torch.save(saved, tmp_path / 'epoch_1.pth')
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'world_size_resumed', max_epochs=2, hooks=hooks, resume=True)
    with pytest.raises(WorldSizeError, match=f"cannot resume {tmp_path / 'epoch_1.pth'}: it was trained by 16 "
                                             'processes and this run has 1;.* load_from='):
        runner.train()
    assert runner.epoch == 0  # nothing trained


@pytest.mark.parametrize('variable, who', [('TORCHELASTIC_RESTART_COUNT', 'torchrun'),
                                           ('SLURM_RESTART_COUNT', 'Slurm')])
def test_a_restarted_job_resumes_by_itself_and_says_so(tmp_path, monkeypatch, variable, who):
    tiny_runner(tmp_path, [[1.0, 2.0]], f'restart_saved_{who}').train()
    monkeypatch.setenv(variable, '2')
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], f'restart_resumed_{who}', max_epochs=2)
    runner.train()
    assert (f"restarted by {who} ({variable}=2): resuming from {tmp_path / 'epoch_1.pth'} at iteration 1 (epoch 1)"
            in run_log(runner))
    assert runner.epoch == 2 and runner.iter == 2


def test_a_restart_under_a_runner_that_cannot_resume_by_itself_is_refused_and_resume_still_works(tmp_path, monkeypatch):
    from mmengine.runner import Runner
    tiny_runner(tmp_path, [[1.0, 2.0]], 'plain_saved').train()
    monkeypatch.setenv('SLURM_RESTART_COUNT', '1')
    with pytest.raises(CheckpointError, match=(
            f"SafeCheckpointHook would resume from {tmp_path / 'epoch_1.pth'}, which needs "
            r"runner_type='CrashSafeRunner' \(configs/_base_/crash_safe_runtime.py sets it\); this runner is a "
            'Runner$')):
        tiny_runner(tmp_path, [[1.0, 2.0]], 'plain_restarted', max_epochs=2, runner_type=Runner).train()
    monkeypatch.delenv('SLURM_RESTART_COUNT')  # --resume: mmengine resumes from last_checkpoint by itself
    resumed = tiny_runner(tmp_path, [[1.0, 2.0]], 'plain_resumed', max_epochs=2, resume=True, runner_type=Runner)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 2


def test_a_fresh_start_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '0')
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'fresh')
    runner.train()
    assert 'training from the start: no --resume, and no sign of a restart' in run_log(runner)


def test_workers_started_again_by_the_same_torchrun_agent_resume_without_a_restart_count(tmp_path, monkeypatch):
    """torchrun restarts the workers without counting a restart when a node joins an elastic job: the agent
    that started the run is recognised instead (this process's parent, as in the previous run)."""
    monkeypatch.setenv('TORCHELASTIC_RUN_ID', 'job')
    tiny_runner(tmp_path, [[1.0, 2.0]], 'agent_saved').train()
    assert torchrun_agent() in (tmp_path / AGENTS_FILE).read_text().split()
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'agent_resumed', max_epochs=2)
    runner.train()
    assert ('restarted by torchrun (workers started again by an agent of this run): resuming from '
            f"{tmp_path / 'epoch_1.pth'}") in run_log(runner)
    (tmp_path / AGENTS_FILE).write_text('otherhost:4242:1234\n')  # another job's agent: the same command again
    runner = tiny_runner(tmp_path, [[1.0, 2.0]], 'agent_other', max_epochs=2)
    runner.train()
    assert 'training from the start' in run_log(runner) and runner.iter == 2
