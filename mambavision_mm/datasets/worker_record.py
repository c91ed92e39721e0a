"""What each data-loader worker is loading, kept in shared memory so that the main process can name the samples of
a worker killed from outside (the out-of-memory killer's SIGKILL), and the workers torch's error says died."""
import multiprocessing
import os
import re
from typing import Dict, List, Optional, Tuple

# One row per worker id below WORKER_ROWS, holding the worker's pid, the number of indices that follow, and up to
# ROW_INDICES indices.
WORKER_ROWS, ROW_INDICES = 64, 64
ROW = 2 + ROW_INDICES


class WorkerRecord:
    """The samples each data-loader worker is loading. Made in the main process before the workers start; each
    worker writes only its own row (no lock), the main process reads every row after a worker died."""

    def __init__(self):
        self.loading = multiprocessing.Array('q', WORKER_ROWS * ROW, lock=False)

    def start(self, worker_id: int, indices: List[int]) -> None:
        """Worker ``worker_id`` (this process) begins loading ``indices``."""
        if worker_id >= WORKER_ROWS:
            return
        row, held = worker_id * ROW, [int(index) for index in indices[:ROW_INDICES]]
        self.loading[row + 2:row + 2 + len(held)] = held
        self.loading[row] = os.getpid()
        self.loading[row + 1] = len(held)

    def finish(self, worker_id: int) -> None:
        """Worker ``worker_id`` has loaded its batch."""
        if worker_id < WORKER_ROWS:
            self.loading[worker_id * ROW + 1] = 0

    def held(self) -> Dict[int, Tuple[int, List[int]]]:
        """``{pid: (worker id, the indices it was loading)}`` of every worker that has recorded a batch."""
        return {self.loading[row]: (row // ROW, list(self.loading[row + 2:row + 2 + self.loading[row + 1]]))
                for row in range(0, WORKER_ROWS * ROW, ROW) if self.loading[row]}


def dead_workers(error: BaseException) -> Optional[Tuple[List[int], str]]:
    """The pids of the data-loader workers that torch's ``error`` says died and how ('was killed (signal: ...)' or
    'exited unexpectedly'), or None when ``error`` is not about dead workers."""
    pids = re.search(r'DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\)', str(error))
    if pids is None:
        return None
    signal = re.search(r'killed by signal: ([\w ]+)', str(error))
    how = f'was killed (signal: {signal.group(1)})' if signal else 'exited unexpectedly'
    return [int(pid) for pid in pids.group(1).split(',')], how
