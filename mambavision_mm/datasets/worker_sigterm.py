"""Data-loader workers that outlive a SIGTERM until the main process exits.

Slurm sends SIGTERM to every process of a job it preempts: the main process decides when to stop
(:class:`~mambavision_mm.engine.hooks.PreemptionHook`) and needs its workers until then. At exit, multiprocessing
ends daemonic workers with a SIGTERM too, which must then end them as usual.
"""
import atexit
import multiprocessing
import os
import signal


def _set_flag(flag) -> None:
    flag.value = 1


class WorkerSigterm:
    """Made in the main process; :meth:`install` in each worker makes a SIGTERM end it only once the main process
    is exiting."""

    def __init__(self):
        self.main_exiting = multiprocessing.Value('b', 0, lock=False)
        # Registered after multiprocessing's own exit handler, so it runs first.
        atexit.register(_set_flag, self.main_exiting)
        self.worker_pid = None

    def install(self) -> None:
        """In a worker: handle SIGTERM (once per process)."""
        if self.worker_pid != os.getpid():
            signal.signal(signal.SIGTERM, self.on_sigterm)
            self.worker_pid = os.getpid()

    def on_sigterm(self, signum, frame) -> None:
        if self.main_exiting.value:
            os._exit(0)  # as a worker told to stop: torch takes any other status for a crash
