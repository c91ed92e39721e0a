"""Loading each training sample under its own seed, with its files checked and named when they cannot be used.

:class:`SampleFetcher` is what the data loader calls to fetch a batch (installed by
:class:`~mambavision_mm.datasets.samplers.SeededSampler` as the dataset's ``__getitems__``). Each sample is
loaded with python, numpy and torch-CPU seeded from its :class:`~mambavision_mm.datasets.seeding.SeededIndex`,
so its random transforms draw the same numbers whichever worker loads it. Its files are looked at first and
named when they cannot be used (missing, empty, a JPEG or PNG cut short, undecodable); with
``skip_bad_samples=True`` the next sample is loaded in their place and the skip is logged. Each data-loader
worker records the samples it is loading, so that a worker killed from outside (the out-of-memory killer's
SIGKILL) can be named with them: :meth:`SampleFetcher.lost_workers`.
"""
import atexit
import logging
import multiprocessing
import os
import re
import signal
from typing import List, Optional

import cv2
import numpy as np
from mmengine.logging import print_log
from torch.utils.data import get_worker_info

from .dataset_checks import DatasetError
from .seeding import SeededIndex, seeded_cpu_randomness

# How many following samples the fetcher tries in place of a bad one before it gives up.
MAX_REPLACEMENTS = 16
# The record of what each data-loader worker is loading: one row per worker id below WORKER_ROWS, holding the
# worker's pid, the number of indices that follow, and up to ROW_INDICES indices.
WORKER_ROWS, ROW_INDICES = 64, 64
ROW = 2 + ROW_INDICES


def file_problem(path: str) -> Optional[str]:
    """Why the image or annotation file at ``path`` cannot be used as it is, or None when nothing shows.

    A look at the file's size, head and tail: decoders accept a JPEG cut short (the missing rows come out
    grey), so only the missing end marker tells. Only when the tail lacks it is the whole file searched, for
    files with data appended after their end.
    """
    end_markers = {b'\xff\xd8': (b'\xff\xd9', 'JPEG (no end-of-image marker)'),
                   b'\x89PNG': (b'IEND', 'PNG (no IEND chunk)')}
    try:
        size = os.path.getsize(path)
        if size == 0:
            return 'is empty (0 bytes)'
        with open(path, 'rb') as f:
            head = f.read(8)
            kind = next((end_markers[magic] for magic in end_markers if head.startswith(magic)), None)
            if kind is None:
                return None
            f.seek(max(size - 64, 0))
            if kind[0] in f.read():
                return None
            f.seek(len(head))
            return None if kind[0] in f.read() else f'is a truncated {kind[1]}'
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'


def undecodable(path: str) -> bool:
    """Whether OpenCV fails to decode the file (used once loading has failed, to tell bad data from bugs)."""
    try:
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED) is None
    except (OSError, ValueError, cv2.error):
        return True


class BadSampleError(DatasetError):
    """A training sample whose files cannot be loaded; the message names them."""


class DataWorkerLostError(RuntimeError):
    """A data-loader worker that died from outside (a signal); the message names it and the samples it held."""


def _set_flag(flag) -> None:
    flag.value = 1


class SampleFetcher:
    """What the data loader calls to fetch a batch (the dataset's ``__getitems__``, the DataLoader protocol).

    Each sample is loaded under its :class:`SeededIndex`'s seed, after a look at its files
    (:func:`file_problem`); a failure raises :class:`BadSampleError` naming the files, or, with
    ``skip_bad_samples``, the next sample of the dataset is loaded in its place and a warning with the running
    count (shared by all workers) is logged.
    """

    def __init__(self, dataset, skip_bad_samples: bool = False):
        self.dataset = dataset
        self.skip_bad_samples = skip_bad_samples
        self.skipped = multiprocessing.Value('i', 0)
        self.placeholders_before = multiprocessing.Value('q', 0)  # see SeededSampler.pass_over
        self.loading = multiprocessing.Array('q', WORKER_ROWS * ROW, lock=False)  # each worker writes its row
        self.worker_pid = None
        # Set when the main process exits: from then on a SIGTERM (multiprocessing ends daemonic workers with
        # one at exit) ends a worker as usual. Registered after multiprocessing's own exit handler, so it runs
        # first.
        self.main_exiting = multiprocessing.Value('b', 0, lock=False)
        atexit.register(_set_flag, self.main_exiting)

    def __call__(self, indices: List[int]) -> list:
        worker = get_worker_info()
        if worker is not None and self.worker_pid != os.getpid():
            # Slurm sends SIGTERM to every process of a job it preempts: the main process decides when to stop
            # (PreemptionHook) and needs its workers until then.
            signal.signal(signal.SIGTERM, self.on_worker_sigterm)
            self.worker_pid = os.getpid()
        row = worker.id * ROW if worker is not None and worker.id < WORKER_ROWS else None
        if row is not None:
            held = [int(index) for index in indices[:ROW_INDICES]]
            self.loading[row + 2:row + 2 + len(held)] = held
            self.loading[row] = os.getpid()
            self.loading[row + 1] = len(held)
        batch = [self.fetch(index) for index in indices]
        if row is not None:
            self.loading[row + 1] = 0
        return batch

    def on_worker_sigterm(self, signum, frame) -> None:
        """In a worker: SIGTERM ends it only once the main process is exiting."""
        if self.main_exiting.value:
            os._exit(0)  # as a worker told to stop: torch takes any other status for a crash

    def lost_workers(self, error: BaseException) -> Optional[str]:
        """Which workers torch's ``error`` says died, how, and what each was loading (its id, pid, the samples
        with their files); None when ``error`` is not about dead workers.

        The record is read in the main process after the worker died: a worker that died while loading left
        its row filled in.
        """
        pids = re.search(r'DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\)', str(error))
        if pids is None:
            return None
        signal = re.search(r'killed by signal: ([\w ]+)', str(error))
        how = f'was killed (signal: {signal.group(1)})' if signal else 'exited unexpectedly'
        rows = {self.loading[row]: row for row in range(0, WORKER_ROWS * ROW, ROW) if self.loading[row]}
        clauses = []
        for pid in (int(pid) for pid in pids.group(1).split(',')):
            row = rows.get(pid)
            if row is None:
                clauses.append(f'data-loader worker (pid {pid}) {how}')
                continue
            held = list(self.loading[row + 2:row + 2 + self.loading[row + 1]])
            samples = ', '.join(f"{index} ({', '.join(self.files(index)) or 'no file recorded'})" for index in held)
            clauses.append(f'data-loader worker {row // ROW} (pid {pid}) {how} '
                           + (f'while loading training samples {samples}' if held else 'between batches'))
        return '; '.join(clauses)

    def files(self, index: int) -> List[str]:
        """The image and annotation-map paths of sample ``index``."""
        info = self.dataset.get_data_info(index) if hasattr(self.dataset, 'get_data_info') else {}
        return [info[key] for key in ('img_path', 'seg_map_path') if isinstance(info.get(key), str)]

    def load(self, index: int):
        """The sample; BadSampleError when its files cannot be used, DatasetError naming them for other failures."""
        files = self.files(index)
        for path in files:
            problem = file_problem(path)
            if problem:
                raise BadSampleError(f'training sample {index}: {path} {problem}')
        try:
            if isinstance(index, SeededIndex):
                with seeded_cpu_randomness(index.seed):
                    return self.dataset[int(index)]
            return self.dataset[int(index)]
        except Exception as error:
            bad = [path for path in files if undecodable(path)]
            if bad:
                raise BadSampleError(f'training sample {index}: {bad[0]} cannot be decoded as an image') from error
            # Readable files but a failing pipeline (a bug, a label out of range): named, and never skipped,
            # which would hide it.
            where = ', '.join(files) or 'no file recorded'
            raise DatasetError(f'training sample {index} ({where}) failed to load: '
                               f'{type(error).__name__}: {error}') from error

    def fetch(self, index: int):
        """Sample ``index`` (a placeholder before the resume point), or the next good one when skipping bad samples."""
        if isinstance(index, SeededIndex) and index.position < self.placeholders_before.value:
            return {}
        if not self.skip_bad_samples:
            return self.load(index)
        seed = getattr(index, 'seed', None)
        for offset in range(MAX_REPLACEMENTS + 1):
            candidate = (int(index) + offset) % len(self.dataset)
            try:
                return self.load(SeededIndex(candidate, seed, index.position) if seed is not None else candidate)
            except BadSampleError as error:
                with self.skipped.get_lock():
                    self.skipped.value += 1
                    count = self.skipped.value
                print_log(f'skipped {error} ({count} skipped so far)', logger='current', level=logging.WARNING)
        raise BadSampleError(f'training samples {int(index)} to {int(index) + MAX_REPLACEMENTS} all failed to load')
