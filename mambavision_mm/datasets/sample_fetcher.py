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
import logging
import multiprocessing
from typing import List, Optional

from mmengine.logging import print_log
from torch.utils.data import get_worker_info

from .dataset_checks import DatasetError
from .sample_files import file_problem, undecodable
from .seeding import SeededIndex, seeded_cpu_randomness
from .worker_record import WorkerRecord, dead_workers
from .worker_sigterm import WorkerSigterm

# How many following samples the fetcher tries in place of a bad one before it gives up.
MAX_REPLACEMENTS = 16


class BadSampleError(DatasetError):
    """A training sample whose files cannot be loaded; the message names them."""


class DataWorkerLostError(RuntimeError):
    """A data-loader worker that died from outside (a signal); the message names it and the samples it held."""


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
        self.record = WorkerRecord()
        self.sigterm = WorkerSigterm()

    def __call__(self, indices: List[int]) -> list:
        worker = get_worker_info()
        if worker is None:
            return [self.fetch(index) for index in indices]
        self.sigterm.install()
        self.record.start(worker.id, indices)
        batch = [self.fetch(index) for index in indices]
        self.record.finish(worker.id)
        return batch

    def lost_workers(self, error: BaseException) -> Optional[str]:
        """Which workers torch's ``error`` says died, how, and what each was loading (its id, pid, the samples
        with their files); None when ``error`` is not about dead workers.

        The record is read in the main process after the worker died: a worker that died while loading left
        its row filled in.
        """
        dead = dead_workers(error)
        if dead is None:
            return None
        pids, how = dead
        held = self.record.held()
        clauses = []
        for pid in pids:
            if pid not in held:
                clauses.append(f'data-loader worker (pid {pid}) {how}')
                continue
            worker_id, indices = held[pid]
            samples = ', '.join(f"{index} ({', '.join(self.files(index)) or 'no file recorded'})" for index in indices)
            clauses.append(f'data-loader worker {worker_id} (pid {pid}) {how} '
                           + (f'while loading training samples {samples}' if indices else 'between batches'))
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
