"""Checkpoints that a kill cannot leave half-written, and resuming that never starts from a broken one.

``SafeCheckpointHook`` is mmengine's ``CheckpointHook`` (same arguments, ``default_hooks.checkpoint``) except that

- a checkpoint is written to ``<name>.tmp`` in its folder, flushed to disk and renamed to ``<name>``
  (:class:`~mambavision_mm.engine.checkpoint_files.AtomicLocalBackend`), so a file under a checkpoint's name is
  always complete;
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
import os
import os.path as osp
from typing import Optional, Tuple

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.registry import HOOKS
from mmengine.runner import find_latest_checkpoint

from mambavision_backbone.hub import require_checkpoint

from ..checkpoint_files import (
    checkpoint_problem,
    checkpoints_newest_first,
    remove_if_present,
    write_failure,
    write_text_atomically,
)
from ..errors import CheckpointError, CheckpointWriteError
from ..mmengine_internals import (
    StepCheckpointHook,
    requested_checkpoint,
    resume_requested,
    train_loop_built,
)
from ..restarts import PREEMPTION_MARKER, record_torchrun_agents, shared_restart_reason
from ..runner import CrashSafeRunner


def _resumed_file(resume: bool, path: Optional[str]) -> Optional[str]:
    return path if resume else None


def _resumed_by_mmengine(runner) -> Optional[str]:
    """The checkpoint mmengine's own Runner resumes from (``--resume``: the one ``last_checkpoint`` names)."""
    if resume_requested(runner) and requested_checkpoint(runner) is None:
        return find_latest_checkpoint(runner.work_dir)
    return _resumed_file(resume_requested(runner), requested_checkpoint(runner))


@HOOKS.register_module()
class SafeCheckpointHook(StepCheckpointHook):
    """mmengine's CheckpointHook with atomic writes and checked resuming (see the module docstring)."""

    resume_from: Optional[Tuple[bool, Optional[str]]] = None  # (resume, load_from) chosen in before_run

    def before_run(self, runner) -> None:
        self.resume_from = None
        load_from, resume = requested_checkpoint(runner), resume_requested(runner)
        if load_from is not None and '://' not in str(load_from):
            require_checkpoint(load_from, f'checkpoint {load_from} (load_from / --resume PATH) does not exist')
            problem = checkpoint_problem(load_from) if resume else None  # a plain load reads it anyway
            if problem:
                raise CheckpointError(f'cannot resume from {load_from}: it {problem}')
        training = train_loop_built(runner) is not None  # testing loads the checkpoint it is given
        self.restarted = shared_restart_reason(runner.work_dir) if training and not resume else None
        if training:
            record_torchrun_agents(runner.work_dir)
        if not (resume and load_from is None) and self.restarted is None:
            if training and not resume:
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

    def newest_readable(self, runner) -> Optional[str]:
        """The newest checkpoint of the work dir that reads back whole; the broken ones passed over are logged."""
        skipped = False
        for path in checkpoints_newest_first(runner.work_dir, self.filename_tmpl):
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
        if isinstance(self.file_backend, LocalBackend) and self.file_client_args is None:
            self.backend_args = dict(self.backend_args or {}, backend='atomic_local')
            self.file_backend = get_file_backend(self.out_dir, backend_args=self.backend_args)
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
            remove_if_present(probe)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # The checkpoint recorded its own path when it was saved; a resumed run names the file it came from.
        info = checkpoint.get('message_hub', {}).get('runtime_info')
        resumed = requested_checkpoint(runner) if resume_requested(runner) else None
        if info is not None and resumed is not None:
            info['last_ckpt'] = resumed
        if resume_requested(runner) and self.restarted:
            meta = checkpoint.get('meta', {})
            runner.logger.info(f"{self.restarted}: resuming from {resumed} at iteration "
                               f"{meta.get('iter')} (epoch {meta.get('epoch')})")
            if is_main_process():
                remove_if_present(osp.join(runner.work_dir, PREEMPTION_MARKER))

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
        """Write a checkpoint (through the atomic file backend) and point ``last_checkpoint`` at it; a failure
        removes what was written and raises :class:`CheckpointWriteError`."""
        path = self.file_backend.join_path(self.out_dir, filename)
        previous = runner.message_hub.get_info('last_ckpt')  # also when resumed: see after_load_checkpoint
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        try:
            runner.save_checkpoint(self.out_dir, filename, self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=by_epoch,
                                   backend_args=self.backend_args, **self.args)
            if is_main_process():
                write_text_atomically(pointer, path)
        except OSError as error:
            remove_if_present(pointer + '.tmp')
            last = path if checkpoint_problem(path) is None else previous  # renamed before the pointer failed
            raise CheckpointWriteError(write_failure(path, error, last)) from error

    def save_with_step(self, runner, step: int, meta: dict) -> None:
        """mmengine's interval save, except that the expired checkpoint is removed only once the new one is on
        disk, and ``last_checkpoint`` is written atomically (:meth:`write`)."""
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
