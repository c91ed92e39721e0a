"""Preemption (SIGTERM, as Slurm and torchrun send it) and restarts: the run stops after the iteration in
progress with a checkpoint of it, and the same command started again continues by itself to the weights of
the run never interrupted, for iteration- and epoch-based loops (docs/crash_safe_training.md)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from mambavision_mm.engine.hooks import PREEMPTED_EXIT_CODE

from ...helpers.checkpoints import checkpoint_weights, max_difference
from ...helpers.paths import MICRO_DET, MICRO_SEG, TRAIN
from ...helpers.processes import run_tool
from ...helpers.training import workers


def sigterm_when_logged(args, cwd, text, timeout=300):
    """Run ``python ARGS`` in its own process group and send SIGTERM to the whole group (workers included, as
    Slurm does) once its output shows ``text``; returns (exit status, output)."""
    log_path = cwd / f'sigterm_{time.monotonic_ns()}.log'
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    deadline, sent = time.monotonic() + timeout, False
    while process.poll() is None and time.monotonic() < deadline:
        if not sent and text in log_path.read_text():
            os.killpg(process.pid, signal.SIGTERM)
            sent = True
        time.sleep(0.005)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    status = process.wait()
    assert sent, log_path.read_text()[-3000:]
    return status, log_path.read_text()


@pytest.mark.slow  # about 30 s: a reference run, a preempted one and its continuation
@pytest.mark.parametrize('loop', ['iteration', 'epoch'])
def test_sigterm_between_checkpoints_then_the_same_command_again_ends_as_if_uninterrupted(micro_data, tmp_path,
                                                                                          loop):
    config, trigger, last = ((MICRO_SEG, 'Iter(train) [ 6/12]', 'iter_12.pth') if loop == 'iteration' else
                             (MICRO_DET, 'Epoch(train) [2][1/3]', 'epoch_3.pth'))
    out = run_tool([TRAIN, config, '--work-dir', str(tmp_path / 'reference')], micro_data)
    assert 'training from the start: no --resume, and no sign of a restart' in out
    work_dir = tmp_path / 'preempted'
    args = [TRAIN, config, '--work-dir', str(work_dir), *workers(2)]
    status, log = sigterm_when_logged(args, micro_data, trigger)
    stopped = [line for line in log.splitlines() if 'SIGTERM received: stopped after iteration' in line]
    assert status == PREEMPTED_EXIT_CODE and len(stopped) == 1, log[-3000:]
    iteration = int(stopped[0].split('stopped after iteration ')[1].split(',')[0])
    saved = work_dir / f'iter_{iteration}.pth'
    assert stopped[0].endswith(f'saved {saved}; run the same command again to continue from it')
    assert (work_dir / 'preempted').read_text() == str(saved)
    assert (work_dir / 'last_checkpoint').read_text() == str(saved)
    assert 'Traceback' not in log, log[-3000:]
    if loop == 'epoch':
        assert 4 <= iteration <= 5  # in the middle of epoch 2 (3 iterations per epoch): not an epoch's end
    out = run_tool(args, micro_data)
    assert (f'started again after a preemption ({work_dir}/preempted): resuming from {saved} at iteration '
            f'{iteration}') in out
    assert not (work_dir / 'preempted').exists()
    reference = checkpoint_weights(tmp_path / 'reference' / last)
    assert max_difference(checkpoint_weights(work_dir / last), reference) <= 1e-6

