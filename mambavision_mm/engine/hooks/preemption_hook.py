"""Preemption that loses at most the iteration in progress: SIGTERM or SIGUSR1 end the run after a checkpoint."""
import os.path as osp
import signal

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..restarts import PREEMPTION_MARKER
from .safe_checkpoint_hook import SafeCheckpointHook

# The exit status of a run stopped for preemption (EX_TEMPFAIL: "try again later").
PREEMPTED_EXIT_CODE = 75


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop a training run cleanly when the scheduler says it will be killed.

    Slurm sends SIGTERM to every process of a job it preempts or that reaches its time limit, and SIGKILL 30 s
    later (``--signal=USR1@90`` sends SIGUSR1 earlier); torchrun passes SIGTERM on to its workers. On either
    signal the current iteration finishes; the ranks agree on stopping after it (a flag all-reduced every
    iteration, so all stop after the same one); the state after it is saved as a checkpoint (atomically, also
    between the configured saves), the work dir gets the ``preempted`` marker, and every process exits with
    status :data:`PREEMPTED_EXIT_CODE`. The same command started again resumes by itself
    (:class:`SafeCheckpointHook`) and ends with the weights of a run never interrupted.

    Data-loader workers ignore SIGTERM (Slurm signals them too), so that the iteration in progress can finish.
    """

    priority = 'LOWEST'  # after the checkpoint hook: a configured save of this iteration is not written twice
    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.received = None

    def before_train(self, runner) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self.on_signal)

    def on_signal(self, signum, frame) -> None:
        """Note the signal; the run stops after the iteration in progress, when the ranks agree."""
        self.received = signal.Signals(signum).name

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.stop_agreed():
            return
        checkpoint_hook = next((hook for hook in runner.hooks if isinstance(hook, SafeCheckpointHook)), None)
        if checkpoint_hook is None:
            raise RuntimeError('PreemptionHook needs default_hooks.checkpoint = SafeCheckpointHook to save')
        path = checkpoint_hook.save_mid_epoch(runner)
        if is_main_process():
            with open(osp.join(runner.work_dir, PREEMPTION_MARKER), 'w') as f:
                f.write(path)
        barrier()  # nobody leaves before the checkpoint is on disk
        runner.logger.warning(f'{self.received or "a peer"} received: stopped after iteration {runner.iter + 1}, '
                              f'saved {path}; run the same command again to continue from it')
        raise SystemExit(PREEMPTED_EXIT_CODE)

    def stop_agreed(self) -> bool:
        """Whether any rank has received a stop signal (all ranks get the same answer)."""
        if get_world_size() == 1:
            return self.received is not None
        flag = torch.tensor([float(self.received is not None)])
        all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train(self, runner) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
