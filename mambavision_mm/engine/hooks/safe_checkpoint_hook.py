"""Checkpoints that a kill cannot leave half-written, and resuming that never starts from a broken one.

``SafeCheckpointHook`` is mmengine's ``CheckpointHook`` (same arguments, ``default_hooks.checkpoint``) except that

- a checkpoint is written to ``<name>.tmp`` in its folder, flushed to disk and renamed to ``<name>``; a rename
  within a folder is atomic, so a file under a checkpoint's name is always complete;
- ``last_checkpoint`` is rewritten the same way, and only after that rename;
- checkpoints beyond ``max_keep_ckpts`` are removed only once the new one is on disk (mmengine removes first);
- before training, the checkpoint folder must be writable, ``load_from`` / ``--resume PATH`` must exist, and an
  automatic ``--resume`` takes the newest checkpoint of the work dir that reads back whole, saying which broken
  ones it passed over (rank 0 chooses, every rank resumes from its choice);
- a restarted run resumes by itself, without ``--resume``: restarted by torchrun (TORCHELASTIC_RESTART_COUNT >
  0, or started by a torchrun agent that had started this work dir's run before: torchrun restarts the workers
  without counting it when a node joins an elastic job), requeued by Slurm (SLURM_RESTART_COUNT > 0), or started
  again after a preemption (the work dir holds the ``preempted`` marker that
  :class:`~mambavision_mm.engine.hooks.PreemptionHook` leaves); the hook chooses the checkpoint and
  :class:`~mambavision_mm.engine.runner.CrashSafeRunner` resumes from it (another runner is refused with one line);
- a save that fails (no space left, a folder made read-only or removed) removes what it had written and stops the
  run with :class:`CheckpointWriteError`: one line naming the file, the cause (with the free space) and the last
  checkpoint, which is intact.
"""
import errno
import glob
import os
import os.path as osp
import re
import shutil
import socket
import zipfile
from typing import List, Optional, Tuple

from mmengine.dist import all_gather_object, broadcast_object_list, get_world_size, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop, find_latest_checkpoint

from mambavision_backbone.hub import archive_problem

from ..runner import CrashSafeRunner

# Left in the work dir by a run stopped for preemption; a run started in that work dir resumes by itself.
PREEMPTION_MARKER = 'preempted'


# The torchrun agents that started the run of a work dir, one per line (see torchrun_agent).
AGENTS_FILE = 'torchrun_agents'


def torchrun_agent() -> Optional[str]:
    """The torchrun agent that started this process, as host:pid:start time, the same for every round of workers
    it starts; None outside torchrun."""
    if 'TORCHELASTIC_RUN_ID' not in os.environ:
        return None
    agent = os.getppid()
    try:
        with open(f'/proc/{agent}/stat') as f:
            started = f.read().rsplit(')', 1)[1].split()[19]  # field 22, after the name in parentheses
    except (OSError, IndexError):
        started = 'unknown'
    return f'{socket.gethostname()}:{agent}:{started}'


def restart_reason(work_dir: str) -> Optional[str]:
    """Why a run starting in ``work_dir`` continues an earlier one, or None for a fresh start."""
    for variable, who in (('TORCHELASTIC_RESTART_COUNT', 'torchrun'), ('SLURM_RESTART_COUNT', 'Slurm')):
        count = os.environ.get(variable, '0')
        if count.isdigit() and int(count) > 0:
            return f'restarted by {who} ({variable}={count})'
    agent, agents_file = torchrun_agent(), osp.join(work_dir, AGENTS_FILE)
    if agent is not None and osp.isfile(agents_file):
        with open(agents_file) as f:
            if agent in f.read().split():
                return 'restarted by torchrun (workers started again by an agent of this run)'
    if osp.isfile(osp.join(work_dir, PREEMPTION_MARKER)):
        return f'started again after a preemption ({osp.join(work_dir, PREEMPTION_MARKER)})'
    return None


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from; the message names it."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint that could not be written (or a checkpoint folder that cannot be written to); the message
    names the file, the cause and the last checkpoint on disk."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why the checkpoint at ``path`` cannot be resumed from, or None when it reads back whole.

    torch saves a zip archive: reading every member and checking its CRC finds a file cut short or damaged
    without unpickling anything.
    """
    if not osp.isfile(path):
        return 'does not exist'
    if osp.getsize(path) == 0:
        return 'is empty (0 bytes)'
    problem = archive_problem(path)
    if problem:
        return problem
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith('data.pkl') for name in archive.namelist()):
            return 'is not a torch checkpoint (no data.pkl)'
    return None


def _flush_to_disk(path: str) -> None:
    with open(path, 'rb+') as f:
        os.fsync(f.fileno())


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere the rename alone is what we get)."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(written: str, path: str) -> None:
    """Flush the finished file ``written`` to disk and rename it to ``path``."""
    _flush_to_disk(written)
    os.replace(written, path)
    _sync_folder(osp.dirname(osp.abspath(path)))


def _megabytes(size: int) -> str:
    return f'{size / 2**20:.1f} MB'


def write_failure(path: str, error: OSError, previous: Optional[str]) -> str:
    """The one line that says why writing the checkpoint ``path`` failed and what is left on disk."""
    folder = osp.dirname(osp.abspath(path))
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        usage = shutil.disk_usage(folder)
        cause = f'{error.strerror} ({_megabytes(usage.free)} free of {_megabytes(usage.total)} in {folder}'
        if previous and osp.isfile(previous):
            cause += f'; the previous checkpoint takes {_megabytes(osp.getsize(previous))}'
        cause += ')'
    elif not osp.isdir(folder):
        cause = f'its folder {folder} is missing'
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        cause = f'{folder} is not writable ({error.strerror})'
    else:
        cause = error.strerror or str(error)
    if previous and checkpoint_problem(previous) is None:
        kept = f'the last checkpoint, {previous}, is intact'
    else:
        kept = 'no checkpoint of this run is on disk'
    return f'cannot write checkpoint {path}: {cause}; {kept}; training stopped'


def _remove_if_present(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # never written, or the folder is gone
        pass


def _resumed_file(resume: bool, path: Optional[str]) -> Optional[str]:
    return path if resume else None


def _resumed_by_mmengine(runner) -> Optional[str]:
    """The checkpoint mmengine's own Runner resumes from (``--resume``: the one ``last_checkpoint`` names)."""
    if runner._resume and runner._load_from is None:
        return find_latest_checkpoint(runner.work_dir)
    return _resumed_file(runner._resume, runner._load_from)


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    temporary = path + '.tmp'
    with open(temporary, 'w') as f:
        f.write(text)
    replace_atomically(temporary, path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook with atomic writes and checked resuming (see the module docstring)."""

    resume_from: Optional[Tuple[bool, Optional[str]]] = None  # (resume, load_from) chosen in before_run

    def before_run(self, runner) -> None:
        self.resume_from = None
        load_from = runner._load_from
        if load_from is not None and '://' not in str(load_from):
            if not osp.isfile(load_from):
                raise FileNotFoundError(f'checkpoint {load_from} (load_from / --resume PATH) does not exist')
            problem = checkpoint_problem(load_from) if runner._resume else None  # a plain load reads it anyway
            if problem:
                raise CheckpointError(f'cannot resume from {load_from}: it {problem}')
        training = isinstance(runner._train_loop, BaseLoop)  # testing loads the checkpoint it is given
        self.restarted = self.shared_restart_reason(runner.work_dir) if training and not runner._resume else None
        if training:
            self.record_torchrun_agents(runner.work_dir)
        if not (runner._resume and load_from is None) and self.restarted is None:
            if training and not runner._resume:
                runner.logger.info('training from the start: no --resume, and no sign of a restart '
                                   '(TORCHELASTIC_RESTART_COUNT, SLURM_RESTART_COUNT, a preemption marker)')
            return
        chosen = [self.newest_readable(runner) if is_main_process() else None]
        broadcast_object_list(chosen)  # every rank resumes from rank 0's choice
        if chosen[0] is not None:
            self.choose(runner, (True, chosen[0]))
            return
        where = f'{self.restarted}, but' if self.restarted else '--resume:'
        runner.logger.warning(f'{where} no readable checkpoint in {runner.work_dir}; training from the start')
        if not self.restarted:
            self.choose(runner, (False, None))

    def choose(self, runner, resume_from: Tuple[bool, Optional[str]]) -> None:
        """Have the runner resume (or not) from a checkpoint other than the one it was given; only
        :class:`~mambavision_mm.engine.runner.CrashSafeRunner` applies the choice. Under another runner a choice
        that differs from what mmengine resumes from by itself stops the run."""
        if not isinstance(runner, CrashSafeRunner) and _resumed_file(*resume_from) != _resumed_by_mmengine(runner):
            what = f'resume from {resume_from[1]}' if resume_from[0] else 'start from scratch'
            raise CheckpointError(f"SafeCheckpointHook would {what}, which needs runner_type='CrashSafeRunner' "
                                  f'(configs/_base_/crash_safe_runtime.py sets it); this runner is a '
                                  f'{type(runner).__name__}')
        self.resume_from = resume_from

    @staticmethod
    def shared_restart_reason(work_dir: str) -> Optional[str]:
        """One reason to continue an earlier run for every rank, so that all decide alike: torchrun counts
        restarts per node, and a node whose workers were restarted because another node's failed may count 0.
        A restart that torchrun or Slurm counted is named before the other signs."""
        reasons = all_gather_object(restart_reason(work_dir))
        found = [(rank, reason) for rank, reason in enumerate(reasons) if reason is not None]
        if not found:
            return None
        rank, reason = min(found, key=lambda item: ('_RESTART_COUNT=' not in item[1], item[0]))
        return reason if get_world_size() == 1 else f'{reason} on rank {rank}'

    @staticmethod
    def record_torchrun_agents(work_dir: str) -> None:
        """Write down the torchrun agents of this run, so that a round of workers they start later knows it
        continues this run."""
        agents = all_gather_object(torchrun_agent())
        if is_main_process() and agents[0] is not None:
            write_text_atomically(osp.join(work_dir, AGENTS_FILE), '\n'.join(sorted(set(agents))) + '\n')

    def newest_readable(self, runner) -> Optional[str]:
        """The newest checkpoint of the work dir that reads back whole; the broken ones passed over are logged."""
        skipped = False
        for path in self.checkpoints_newest_first(runner.work_dir):
            problem = checkpoint_problem(path)
            if problem is None:
                if skipped:
                    runner.logger.warning(f'resuming from {path}, the newest readable checkpoint')
                return path
            runner.logger.warning(f'skipped checkpoint {path}: it {problem}')
            skipped = True
        return None

    def before_train(self, runner) -> None:
        super().before_train(runner)  # sets out_dir and the file backend
        self.check_writable(self.out_dir)

    def check_writable(self, folder: str) -> None:
        """Stop before the first iteration, not at the first save hours later, when ``folder`` cannot be
        written to."""
        if not isinstance(self.file_backend, LocalBackend) or not is_main_process():
            return
        probe = osp.join(folder, f'.write_check_{os.getpid()}')
        try:
            os.makedirs(folder, exist_ok=True)
            with open(probe, 'wb') as f:
                f.write(b'0')
        except OSError as error:
            raise CheckpointWriteError(f'cannot write checkpoints into {folder}: {error.strerror}; '
                                       'training stopped before the first iteration') from error
        finally:
            _remove_if_present(probe)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # The checkpoint recorded its own path when it was saved; a resumed run names the file it came from.
        info = checkpoint.get('message_hub', {}).get('runtime_info')
        if runner._resume and info is not None and runner._load_from is not None:
            info['last_ckpt'] = runner._load_from
        if runner._resume and self.restarted:
            meta = checkpoint.get('meta', {})
            runner.logger.info(f"{self.restarted}: resuming from {runner._load_from} at iteration "
                               f"{meta.get('iter')} (epoch {meta.get('epoch')})")
            if is_main_process():
                _remove_if_present(osp.join(runner.work_dir, PREEMPTION_MARKER))

    def checkpoints_newest_first(self, work_dir: str) -> List[str]:
        """The checkpoint named by ``last_checkpoint``, then every file named like a checkpoint, newest step first."""
        named = []
        pointer = osp.join(work_dir, 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                named.append(f.read().strip())
        pattern = re.compile(re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
        found = {}
        for folder in {work_dir, *(osp.dirname(path) for path in named)}:
            for path in glob.glob(osp.join(glob.escape(folder), self.filename_tmpl.format('*'))):
                match = pattern.search(osp.basename(path))
                if match:
                    found[path] = int(match.group(1))
        ordered = sorted(found, key=found.get, reverse=True)
        return named + [path for path in ordered if path not in named]

    def save_mid_epoch(self, runner) -> str:
        """Save the state after the current training iteration now, between the configured saves (a preempted
        run), as ``iter_<iterations done>.pth``; returns its path. Epoch-based runs resume it in the middle of
        the epoch (:class:`~mambavision_mm.engine.hooks.ExactResumeHook`)."""
        filename = f'iter_{runner.iter + 1}.pth'
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.last_ckpt != path:  # not saved already by the configured interval
            self.write(runner, filename, dict(), by_epoch=False)
        return path

    def write(self, runner, filename: str, meta: dict, by_epoch: bool) -> None:
        """Write a checkpoint to ``<filename>.tmp``, rename it and point ``last_checkpoint`` at it; a failure
        removes what was written and raises :class:`CheckpointWriteError`."""
        path = self.file_backend.join_path(self.out_dir, filename)
        previous = runner.message_hub.get_info('last_ckpt')  # also when resumed: see after_load_checkpoint
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        try:
            runner.save_checkpoint(self.out_dir, filename + '.tmp', self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=by_epoch,
                                   backend_args=self.backend_args, **self.args)
            if not is_main_process():
                return
            replace_atomically(path + '.tmp', path)
            write_text_atomically(pointer, path)
        except OSError as error:
            for written in (path + '.tmp', pointer + '.tmp'):
                _remove_if_present(written)
            last = path if checkpoint_problem(path) is None else previous  # renamed before the pointer failed
            raise CheckpointWriteError(write_failure(path, error, last)) from error

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):  # e.g. object storage: no rename to rely on
            return super()._save_checkpoint_with_step(runner, step, meta)
        expired = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.write(runner, self.filename_tmpl.format(step), meta, self.by_epoch)
        if expired is not None and is_main_process():
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(expired))
            if osp.isfile(old):
                os.remove(old)
