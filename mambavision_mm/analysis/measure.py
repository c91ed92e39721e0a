"""Timing and peak memory of a piece of work, on CPU or CUDA, for the benchmark tools."""
import ctypes
import gc
import statistics
import time
from typing import List, Optional

import torch

from mambavision_backbone.scan import available_backends, resolve_backend


def device_and_backends(device_name: str, requested, option: str):
    """The device and the selective-scan backends a benchmark runs (``requested``, else all that run there).

    Every backend is resolved first, so that one that cannot run stops the tool (ValueError, its message naming
    ``option``) before anything is measured, and the backends' log lines come before the table.
    """
    device = torch.device(device_name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available')
    backends = requested or available_backends(device)
    for backend in backends:
        try:
            resolve_backend(backend, device)
        except (ValueError, RuntimeError) as error:
            raise ValueError(f'{option} {backend}: {error}') from None
    return device, backends


def release_free_memory():
    """Give memory freed by earlier work back to the OS (glibc keeps it mapped), so RSS counts live data."""
    gc.collect()
    malloc_trim = getattr(ctypes.CDLL(None), 'malloc_trim', None)  # glibc only
    if malloc_trim is not None:
        malloc_trim(0)


class PeakMemory:
    """Peak memory of a block of code: CUDA allocator statistics, or the process's RSS high-water mark
    above its live memory at the start (CPU, Linux)."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            release_free_memory()
            try:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')  # resets VmHWM (Linux)
                self.base = self._status('VmRSS')
            except OSError:
                self.base = None
        return self

    @staticmethod
    def _status(field):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
        raise OSError(field)

    def __exit__(self, *exc):
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.peak = None if self.base is None else self._status('VmHWM') - self.base


def _seconds(fn, device) -> float:
    """Seconds of one call of ``fn``; on CUDA timed by events recorded around it on the current stream, after a
    synchronisation."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(fn, device, repeats):
    """Median seconds of ``fn`` over ``repeats`` calls, after a warm-up call that gives the peak memory."""
    with PeakMemory(device) as memory:
        fn()
    return statistics.median(_seconds(fn, device) for _ in range(repeats)), memory.peak


def measure_interleaved(fns, device, repeats) -> List[float]:
    """Median seconds of each of ``fns``, called in turn (one call of each per round, after a warm-up round), so
    that a drift of the machine's speed (clocks, caches, other load) weighs on all of them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for timed, fn in zip(times, fns):
            timed.append(_seconds(fn, device))
    return [statistics.median(timed) for timed in times]


def fmt_mem(nbytes: Optional[int]) -> str:
    """Bytes as MiB for a table cell; 'n/a' when not measured."""
    return 'n/a' if nbytes is None else f'{nbytes / 2 ** 20:.0f} MiB'


class Table:
    """A Markdown table printed row by row, as the measurements come in."""

    def __init__(self, header, widths):
        self.widths = widths
        self.row(header)
        print('|' + '|'.join('-' * (w + 2) for w in widths) + '|', flush=True)

    def row(self, cells: list) -> None:
        """Print one row."""
        print('| ' + ' | '.join(str(c).ljust(w) for c, w in zip(cells, self.widths)) + ' |', flush=True)


def backbone_train_step(model: torch.nn.Module, x: torch.Tensor, amp_dtype: Optional[torch.dtype] = None):
    """One AdamW training step of a backbone on ``x`` as a function to time: the mean of every output summed as
    the loss, under autocast to ``amp_dtype`` when one is given."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        optimizer.zero_grad()
        with torch.autocast(x.device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            loss = sum(out.float().mean() for out in model(x))
        loss.backward()
        optimizer.step()
    return train_step
