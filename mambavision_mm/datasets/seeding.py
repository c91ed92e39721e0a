"""Random seeds that depend only on what a checkpoint records (the run's seed, epoch, iteration, position).

Training draws random numbers in two places: the data pipeline (augmentation) and the model (drop path, RoI
sampling, dropout). Both are seeded from fixed keys instead of running on from whatever came before, so a run
resumed from a checkpoint draws exactly the numbers the uninterrupted run drew (docs/crash_safe_training.md).
"""
import random
from contextlib import contextmanager

import numpy as np
import torch


class SeededIndex(int):
    """A dataset index carrying the seed its sample's random transforms draw from, and its position in the
    sampler's stream."""

    def __new__(cls, index: int, seed: int, position: int = 0):
        value = super().__new__(cls, index)
        value.seed = seed
        value.position = position
        return value

    def __reduce__(self):
        return SeededIndex, (int(self), self.seed, self.position)


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixed from ``keys`` (numpy's SeedSequence: nearby keys give unrelated streams)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch's CPU and CUDA generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def seeded_cpu_randomness(seed: int):
    """Run the block with python, numpy and torch's CPU generator seeded; restore their states after it.

    Restoring keeps data loading in the main process (``num_workers=0``) from moving the random streams that
    the model's own random draws use.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.random.default_generator.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
