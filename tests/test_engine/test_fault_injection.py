"""Faults made to happen for real, in a training subprocess, and what they cost (docs/crash_safe_training.md).

SIGKILL while a checkpoint is being written: the run is watched file by file and killed the moment a write is
seen in progress, at two points of a save: while torch writes the file (a growing ``.tmp``) and when a file under
a checkpoint's name grows or appears (a non-atomic save would be caught there, half-written). After every kill no
file under a checkpoint's name is unreadable and ``last_checkpoint`` names a readable one; resumed each time, the
run ends with the weights of the run never interrupted.

A full disk and a read-only folder: the work dir on a small tmpfs, mounted in a private mount namespace
(``unshare``), which disappears with the process; skipped where the machine allows no namespace.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mmengine_plugin.engine.hooks.safe_checkpoint_hook import checkpoint_problem

from ..helpers import MICRO_SEG, TRAIN, checkpoint_weights, max_difference, run, run_tool

# The micro segmentation run with a MambaVision-T backbone: checkpoints of about 380 MB (weights and AdamW's two
# moments), whose writes last long enough to be caught in progress.
LARGE_CHECKPOINTS = f'''_base_ = [{MICRO_SEG!r}]
model = dict(backbone=dict(_delete_=True, type='MambaVision', arch='tiny', window_size=(8, 8, 8, 4)),
             decode_head=dict(in_channels=[80, 160, 320, 640]), auxiliary_head=dict(in_channels=320))
'''
POLL_SECONDS = 0.002


def checkpoint_sizes(work_dir):
    """{file name: size} of the work dir's checkpoints and their temporary files."""
    sizes = {}
    for entry in os.scandir(work_dir) if os.path.isdir(work_dir) else ():
        if entry.name.startswith('iter_'):
            try:
                sizes[entry.name] = entry.stat().st_size
            except FileNotFoundError:  # renamed or removed between listing and stat
                pass
    return sizes


def kill_during_a_write(args, cwd, work_dir, named, timeout=600):
    """Run ``python ARGS`` and SIGKILL it (its process group) as soon as a write is seen: a ``.tmp`` file
    growing, or with ``named`` a file under a checkpoint's name growing or appearing. Returns whether it was
    killed (False: the run ended first) and what the work dir held at the kill."""
    process = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    before = checkpoint_sizes(work_dir)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        now = checkpoint_sizes(work_dir)
        growing = [name for name, size in now.items() if size > before.get(name, -1)]
        if [name for name in growing if name.endswith('.tmp') != named]:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True, now
        before = now
        time.sleep(POLL_SECONDS)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError('the run neither wrote a checkpoint nor ended in time')
    return False, checkpoint_sizes(work_dir)


def assert_nothing_saved_is_lost(work_dir):
    for name in os.listdir(work_dir):
        if name.startswith('iter_') and name.endswith('.pth'):
            assert checkpoint_problem(os.path.join(work_dir, name)) is None, f'{name} is broken after the kill'
    pointer = os.path.join(work_dir, 'last_checkpoint')
    if os.path.exists(pointer):
        assert checkpoint_problem(open(pointer).read().strip()) is None, 'last_checkpoint names a broken file'


@pytest.mark.slow  # about 2 min: large checkpoints, a reference run and several killed ones
def test_sigkill_during_checkpoint_writes_loses_nothing(micro_data):
    (micro_data / 'large_checkpoints.py').write_text(LARGE_CHECKPOINTS)
    run_tool([TRAIN, 'large_checkpoints.py', '--work-dir', 'large_reference'], micro_data)
    reference = checkpoint_weights(micro_data / 'large_reference/iter_12.pth')
    work_dir = micro_data / 'large_killed'
    args = [TRAIN, 'large_checkpoints.py', '--work-dir', str(work_dir)]
    kills_in_writes, kills_at_names, resumed = 0, 0, False
    for named in (False, True, False, True):
        killed, held = kill_during_a_write(args + ['--resume'] * resumed, micro_data, work_dir, named)
        if not killed:
            break
        assert_nothing_saved_is_lost(work_dir)
        kills_in_writes += any(name.endswith('.tmp') for name in held)
        kills_at_names += named
        resumed = True
    assert kills_in_writes >= 2 and kills_at_names >= 2, (kills_in_writes, kills_at_names)
    if not os.path.exists(work_dir / 'iter_12.pth'):
        run_tool(args + ['--resume'], micro_data)
    assert max_difference(checkpoint_weights(work_dir / 'iter_12.pth'), reference) <= 1e-6


def private_mounts_allowed() -> bool:
    """Whether ``unshare`` gives this process a mount namespace in which it may mount a tmpfs."""
    if shutil.which('unshare') is None:
        return False
    probe = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c',
                            'mount -t tmpfs -o size=1m tmpfs /mnt'], capture_output=True, timeout=30)
    return probe.returncode == 0


# Run in a private mount namespace: the micro run (checkpoints of 6 MB) on a 15 MB tmpfs fills it at its third
# save; the space is then freed (the tmpfs grown) and the same command resumes. Then a read-only tmpfs as the
# checkpoint folder and as the work dir. What the test checks is copied out before the namespace ends.
SMALL_DISK_SCRIPT = """
set -u
mount -t tmpfs -o size=15m tmpfs "$DISK"
"$PYTHON" "$TRAIN" micro.py --work-dir "$DISK/wd" > full.log 2>&1; echo $? > full.status
ls -a "$DISK/wd" > full.listing
cp "$DISK/wd/last_checkpoint" "$DISK"/wd/iter_*.pth "$OUT/"
mount -o remount,size=64m "$DISK"
"$PYTHON" "$TRAIN" micro.py --work-dir "$DISK/wd" --resume > freed.log 2>&1; echo $? > freed.status
cp "$DISK/wd/iter_12.pth" "$OUT/resumed_iter_12.pth"
mount -t tmpfs -o ro,size=1m tmpfs "$READ_ONLY"
"$PYTHON" "$TRAIN" micro.py --work-dir wd_ro_out --cfg-options default_hooks.checkpoint.out_dir="$READ_ONLY" \
    > ro_out.log 2>&1; echo $? > ro_out.status
"$PYTHON" "$TRAIN" micro.py --work-dir "$READ_ONLY/wd" > ro_work.log 2>&1; echo $? > ro_work.status
"""


@pytest.mark.slow  # about 40 s: four micro runs and a reference
@pytest.mark.skipif(not private_mounts_allowed(), reason='no private mount namespace (unshare) for a small tmpfs')
def test_full_disk_and_read_only_folders_stop_in_one_line_and_lose_nothing(micro_data, tmp_path):
    (micro_data / 'micro.py').write_text(f'_base_ = [{MICRO_SEG!r}]\n')
    run_tool([TRAIN, 'micro.py', '--work-dir', str(tmp_path / 'reference')], micro_data)
    out, disk, read_only = tmp_path / 'out', tmp_path / 'disk', tmp_path / 'read_only'
    for folder in (out, disk, read_only):
        folder.mkdir()
    env = dict(PYTHON=sys.executable, TRAIN=TRAIN, DISK=str(disk), READ_ONLY=str(read_only), OUT=str(out))
    run(['unshare', '--user', '--map-root-user', '--mount', 'bash', '-c', SMALL_DISK_SCRIPT], micro_data, env=env)

    def result(name):
        return int((micro_data / f'{name}.status').read_text()), (micro_data / f'{name}.log').read_text()

    status, log = result('full')
    last_line = log.strip().splitlines()[-1]
    assert status == 1 and last_line.startswith(f'error: cannot write checkpoint {disk}/wd/iter_12.pth: No space '
                                                'left on device ('), log[-3000:]
    assert last_line.endswith(f' MB in {disk}/wd; the previous checkpoint takes 5.9 MB); the last checkpoint, '
                              f'{disk}/wd/iter_8.pth, is intact; training stopped'), last_line
    assert [name for name in (micro_data / 'full.listing').read_text().split() if name.startswith('iter_')] == \
        ['iter_4.pth', 'iter_8.pth']  # nothing half-written, under a checkpoint's name or a temporary one
    assert (out / 'last_checkpoint').read_text() == f'{disk}/wd/iter_8.pth'
    for name in ('iter_4.pth', 'iter_8.pth'):
        assert checkpoint_problem(str(out / name)) is None
    status, log = result('freed')
    assert status == 0 and 'Load checkpoint from' in log and f'{disk}/wd/iter_8.pth' in log, log[-3000:]
    reference = checkpoint_weights(tmp_path / 'reference/iter_12.pth')
    assert max_difference(checkpoint_weights(out / 'resumed_iter_12.pth'), reference) <= 1e-6

    status, log = result('ro_out')
    assert status == 1 and log.strip().splitlines()[-1] == (
        f'error: cannot write checkpoints into {read_only}/wd_ro_out: Read-only file system; training stopped '
        'before the first iteration'), log[-3000:]
    assert 'Iter(train)' not in log
    status, log = result('ro_work')
    assert status == 1 and log.strip().splitlines()[-1] == (
        f'error: cannot use {read_only}/wd: Read-only file system'), log[-3000:]
