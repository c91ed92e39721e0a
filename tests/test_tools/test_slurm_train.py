"""tools/slurm_train.sh and slurm_reproduce.sh without a cluster: Slurm's own commands (srun, scontrol) are
replaced by scripts that record how they were called, so what is checked is the scripts' part: OpenMMLab's
interface passed to srun, the early signal, and the requeue of a run that stopped for preemption."""
import os
import subprocess

import pytest

from mambavision_mm.engine.hooks import PREEMPTED_EXIT_CODE

from ..helpers.paths import ROOT


def slurm_train(tmp_path, srun_status, batch_job=True, env=None):
    """Run tools/slurm_train.sh with an srun that exits with ``srun_status``; returns (status, output, srun's
    arguments, scontrol's calls)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / 'srun').write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/srun_args\nexit {srun_status}\n')
    batch_flag = 1 if batch_job else 0
    (bin_dir / 'scontrol').write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/scontrol_calls\n'
        f'[ "$1" = show ] && echo "JobId=42 JobName=x BatchFlag={batch_flag} Requeue=1"\nexit 0\n')
    for tool in ('srun', 'scontrol'):
        (bin_dir / tool).chmod(0o755)
    result = subprocess.run(
        ['bash', os.path.join(ROOT, 'tools/slurm_train.sh'), 'gpu', 'mv-t', 'configs/x.py', 'work_dirs/x',
         '--cfg-options', 'a=1'], capture_output=True, text=True, timeout=60,
        env={**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'SLURM_JOB_ID': '42', **(env or {})})
    calls = (tmp_path / 'scontrol_calls').read_text().splitlines() if (tmp_path / 'scontrol_calls').exists() else []
    return result.returncode, result.stderr, (tmp_path / 'srun_args').read_text().splitlines(), calls


def test_srun_gets_openmmlab_options_and_the_training_command(tmp_path):
    status, _, args, calls = slurm_train(tmp_path, 0, env={'GPUS': '16', 'SRUN_ARGS': '--time=1:00:00 --qos=low'})
    assert status == 0 and calls == []
    assert args[:9] == ['--partition=gpu', '--job-name=mv-t', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
                        '--cpus-per-task=5', '--kill-on-bad-exit=1', '--signal=USR1@180', '--time=1:00:00']
    assert args[9:] == ['--qos=low', 'python', '-u', os.path.join(ROOT, 'tools/train.py'), 'configs/x.py',
                        '--work-dir=work_dirs/x', '--launcher=slurm', '--cfg-options', 'a=1']


def test_few_gpus_fit_on_one_node(tmp_path):
    _, _, args, _ = slurm_train(tmp_path, 0, env={'GPUS': '2', 'SIGNAL_AT': '600'})
    assert args[2:4] == ['--gres=gpu:2', '--ntasks=2'] and '--signal=USR1@600' in args


def test_a_preempted_batch_job_is_requeued(tmp_path):
    status, output, _, calls = slurm_train(tmp_path, PREEMPTED_EXIT_CODE)
    assert status == PREEMPTED_EXIT_CODE and calls == ['show job 42', 'requeue 42']
    assert 'requeueing job 42; it resumes from work_dirs/x' in output


def test_a_preempted_interactive_job_says_how_to_continue(tmp_path):
    status, output, _, calls = slurm_train(tmp_path, PREEMPTED_EXIT_CODE, batch_job=False)
    assert status == PREEMPTED_EXIT_CODE and calls == ['show job 42']
    assert 'the same command again resumes from work_dirs/x' in output


@pytest.mark.parametrize('srun_status', [0, 1, 137])
def test_other_endings_are_not_requeued(tmp_path, srun_status):
    status, _, _, calls = slurm_train(tmp_path, srun_status)
    assert status == srun_status and calls == []


def test_slurm_reproduce_runs_the_tables_on_every_task(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/srun_args\nexit 0\n')
    (bin_dir / 'srun').chmod(0o755)
    result = subprocess.run(['bash', os.path.join(ROOT, 'tools/slurm_reproduce.sh'), 'gpu', 'tables', 'work_dirs/r',
                             '--data-root', 'coco=/data/coco'], capture_output=True, text=True, timeout=60,
                            env={**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'GPUS': '4'})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / 'srun_args').read_text().splitlines() == [
        '--partition=gpu', '--job-name=tables', '--gres=gpu:4', '--ntasks=4', '--ntasks-per-node=4',
        '--cpus-per-task=5', '--kill-on-bad-exit=1', 'python', '-u', os.path.join(ROOT, 'tools/reproduce.py'),
        '--work-dir=work_dirs/r', '--launcher=slurm', '--data-root', 'coco=/data/coco']
