"""Faults made to happen for real, in a training subprocess, and what they cost (docs/crash_safe_training.md).

SIGKILL while a checkpoint is being written: the run is watched file by file and killed the moment a write is
seen in progress, at two points of a save: while torch writes the file (a growing ``.tmp``) and when a file under
a checkpoint's name grows or appears (a non-atomic save would be caught there, half-written). After every kill no
file under a checkpoint's name is unreadable and ``last_checkpoint`` names a readable one; resumed each time, the
run ends with the weights of the run never interrupted.

A data-loader worker killed with SIGKILL (what the out-of-memory killer does) while it loads a batch: the run
stops in one line naming the worker and its samples, and ``--resume`` ends with the uninterrupted weights.

An image that becomes corrupt during the run (cut short once the first epoch is saved): named, and skipped
only with ``skip_bad_samples=True``, with a count at the end of each epoch.

A full disk and a read-only folder: the work dir on a small tmpfs, mounted in a private mount namespace
(``unshare``), which disappears with the process; skipped where the machine allows no namespace.
"""
import fnmatch
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mambavision_mm.engine.checkpoint_files import checkpoint_problem

from ...helpers.checkpoints import checkpoint_weights, max_difference
from ...helpers.paths import MICRO_DET, MICRO_SEG, ROOT, TRAIN
from ...helpers.processes import run, run_tool
from ...helpers.training import workers

# The micro segmentation run with a MambaVision-T backbone: checkpoints of about 380 MB (weights and AdamW's two
# moments), whose writes last long enough to be caught in progress.
LARGE_CHECKPOINTS = f'''_base_ = [{MICRO_SEG!r}]
model = dict(backbone=dict(_delete_=True, type='MambaVision', arch='tiny', window_size=(8, 8, 8, 4)),
             decode_head=dict(in_channels=[80, 160, 320, 640]), auxiliary_head=dict(in_channels=320))
'''
POLL_SECONDS = 0.002


def test_every_row_of_the_fault_table_names_tests_that_exist():
    """docs/crash_safe_training.md: a row whose test is gone (renamed, deleted) must go too, or be fixed."""
    with open(os.path.join(ROOT, 'docs/crash_safe_training.md')) as f:
        doc = f.read()
    table = doc[doc.index('## What each fault costs'):doc.index('## A NaN or infinite loss')]
    rows = [line for line in table.splitlines() if line.startswith('| ') and not line.startswith('| fault')]
    assert len(rows) >= 13
    tests = {}
    for path in glob.glob(os.path.join(ROOT, 'tests/**/test_*.py'), recursive=True):
        with open(path) as f:
            tests[os.path.basename(path)] = re.findall(r'^def (test_\w+)', f.read(), re.MULTILINE)
    for row in rows:
        named = re.findall(r'`(test_\w+\.py)?(?:::)?([\w*]+)`', row.rsplit('|', 2)[1])
        assert named, row
        module = None
        for module_name, name in named:
            module = module_name or module
            assert any(fnmatch.fnmatch(test, name) for test in tests[module]), (module, name)


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


# A transform that marks the data-loader worker running it as busy loading: while the file ``slow_loading``
# exists in the working folder, it writes ``loading.<pid>``, sleeps, and removes the mark. A worker with a mark is
# inside a batch's loading, whatever the timing of the machine.
LOADING_MARKER = '''
import os
import time

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MarkLoading(BaseTransform):
    def transform(self, results):
        if os.path.exists('slow_loading'):
            mark = f'loading.{os.getpid()}'
            open(mark, 'w').close()
            time.sleep(0.5)
            os.remove(mark)
        return results
'''


@pytest.mark.slow  # about 30 s: a reference run, a killed one and its resumption
def test_a_data_worker_killed_while_loading_is_named_and_resume_continues_exactly(micro_data, tmp_path):
    (micro_data / 'loading_marker.py').write_text(LOADING_MARKER)
    (micro_data / 'marked.py').write_text(
        f'_base_ = [{MICRO_SEG!r}]\n'
        "custom_imports = dict(imports=['mmseg_plugin', 'loading_marker'], allow_failed_imports=False)\n"
        "train_pipeline = [dict(type='LoadImageFromFile'), dict(type='MarkLoading'), dict(type='LoadAnnotations'),\n"
        "                  dict(type='CheckSegLabels', num_classes=4),\n"
        "                  dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.25), keep_ratio=True),\n"
        "                  dict(type='RandomCrop', crop_size=(128, 128), cat_max_ratio=0.75),\n"
        "                  dict(type='RandomFlip', prob=0.5), dict(type='PackSegInputs')]\n"
        'train_dataloader = dict(dataset=dict(pipeline=train_pipeline))\n')
    env = {'PYTHONPATH': os.pathsep.join(filter(None, [str(micro_data), os.environ.get('PYTHONPATH')]))}
    run_tool([TRAIN, 'marked.py', '--work-dir', str(tmp_path / 'reference')], micro_data, env=env)
    work_dir = tmp_path / 'worker_killed'
    args = [TRAIN, 'marked.py', '--work-dir', str(work_dir), *workers(2)]
    log_path = tmp_path / 'worker_killed.log'
    (micro_data / 'slow_loading').touch()
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=micro_data, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, **env})
    killed, deadline = None, time.monotonic() + 300
    try:
        while killed is None and process.poll() is None and time.monotonic() < deadline:
            if os.path.exists(work_dir / 'iter_4.pth'):  # after the first checkpoint: a worker marked as loading
                marks = glob.glob(str(micro_data / 'loading.*'))
                if marks:
                    killed = int(marks[0].rsplit('.', 1)[1])
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.001)
        status = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    last_line = log_path.read_text().strip().splitlines()[-1]
    assert killed and status == 1, (killed, status, last_line)
    sample = r'(\d+) \(data/toy_ade/images/training/toy_training_\d{6}.jpg, ' \
             r'data/toy_ade/annotations/training/toy_training_\d{6}.png\)'
    # torch says "is killed by signal" when its SIGCHLD handler sees the death first, else "exited unexpectedly"
    assert re.fullmatch(rf'error: data-loader worker [01] \(pid {killed}\) (was killed \(signal: Killed\)|exited '
                        rf'unexpectedly) while loading training samples {sample}, {sample}; '
                        rf'training stopped; run the same command with --resume to continue from '
                        rf'{work_dir}/iter_(4|8).pth', last_line), last_line
    os.remove(micro_data / 'slow_loading')
    run_tool(args + ['--resume'], micro_data, env=env)
    reference = checkpoint_weights(tmp_path / 'reference/iter_12.pth')
    assert max_difference(checkpoint_weights(work_dir / 'iter_12.pth'), reference) <= 1e-6


@pytest.mark.slow  # about 10 s
def test_a_work_dir_removed_while_training_stops_in_one_line_naming_it(micro_data, tmp_path):
    work_dir = tmp_path / 'removed'
    log_path = tmp_path / 'removed.log'
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, TRAIN, MICRO_SEG, '--work-dir', str(work_dir)], cwd=micro_data,
                                   stdout=log, stderr=subprocess.STDOUT)
    pointer, deadline = work_dir / 'last_checkpoint', time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if pointer.exists() and pointer.read_text().endswith('iter_4.pth'):
            shutil.rmtree(work_dir, ignore_errors=True)  # the run may write into it meanwhile: until it is gone
            if not work_dir.exists():
                break
        time.sleep(0.001)
    status = process.wait(timeout=300)
    last_line = log_path.read_text().strip().splitlines()[-1]
    assert status == 1 and re.fullmatch(rf'error: cannot use {work_dir}/\S+: No such file or directory '
                                        rf'\(the folder {work_dir} no longer exists\)', last_line), last_line


def corrupt_during_the_run(args, cwd, image, trigger, timeout=300) -> tuple:
    """Run ``python ARGS`` and cut ``image`` short as soon as the file ``trigger`` exists; returns (exit status,
    output)."""
    log_path = cwd / 'corrupted_during_the_run.log'
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not os.path.exists(trigger) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    image.write_bytes(image.read_bytes()[:600])
    status = process.wait(timeout=timeout)
    return status, log_path.read_text()


@pytest.mark.slow  # about 30 s: two micro detection runs
@pytest.mark.parametrize('skip', [True, False])
def test_an_image_corrupted_mid_run_is_named_and_skipped_only_when_configured(micro_data, tmp_path, skip):
    shutil.copytree(micro_data / 'data', tmp_path / 'data')
    image = tmp_path / 'data/toy_coco/train2017/000003.jpg'
    args = [TRAIN, MICRO_DET, '--work-dir', 'w', '--cfg-options', f'train_dataloader.sampler.skip_bad_samples={skip}']
    status, log = corrupt_during_the_run(args, tmp_path, image, tmp_path / 'w/epoch_1.pth')
    named = 'data/toy_coco/train2017/000003.jpg is a truncated JPEG (no end-of-image marker)'
    if not skip:
        assert status == 1 and 'BadSampleError: training sample' in log and named in log, log[-3000:]
        assert 'Epoch(train) [3][3/3]' not in log
        return
    assert status == 0, log[-3000:]
    skipped = [line for line in log.splitlines() if 'skipped training sample' in line]
    assert skipped and all(named in line for line in skipped), log[-3000:]
    counts = {int(epoch): int(count)
              for epoch, count in re.findall(r'epoch (\d): (\d+) bad training samples skipped', log)}
    # epoch 1 ended before the cut; epoch 2 may have loaded the image just before it; epoch 3 meets it once
    assert counts[1] == 0 and counts[2] in (0, 1) and counts[3] == 1 and sum(counts.values()) == len(skipped), counts
    assert f'{len(skipped)} bad training samples skipped in this run' in log
