"""The runner of the crash-safe runtime: mmengine's Runner, resuming from what the checkpoint hook chooses."""
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .mmengine_internals import set_load_or_resume


@RUNNERS.register_module()
class CrashSafeRunner(Runner):
    """mmengine's ``Runner`` that resumes from the checkpoint a hook chooses (``runner_type = 'CrashSafeRunner'``,
    set by ``configs/_base_/crash_safe_runtime.py``).

    mmengine decides between loading and resuming in ``load_or_resume()`` from the ``load_from`` and ``resume``
    it was built with, after the hooks' ``before_run``, and gives hooks no way to change that decision.
    :class:`~mambavision_mm.engine.hooks.SafeCheckpointHook` decides in ``before_run`` (a run restarted by
    torchrun or Slurm or started again after a preemption resumes by itself; ``--resume`` takes the newest
    checkpoint that reads back whole) and leaves its choice, ``(resume, load_from)``, in its ``resume_from``;
    this runner applies it before loading.
    """

    def load_or_resume(self) -> None:
        for hook in self.hooks:
            choice = getattr(hook, 'resume_from', None)
            if choice is not None:
                set_load_or_resume(self, *choice)
        super().load_or_resume()
