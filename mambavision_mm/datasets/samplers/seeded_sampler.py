"""Training samples whose random augmentation and loading errors do not depend on how the run went.

``SeededSampler`` wraps the sampler a config names. Each index it yields carries a seed made from
(run seed, rank, epoch, position in the epoch's stream), and the dataset fetches every sample under that seed
(:class:`~mambavision_mm.datasets.sample_fetcher.SampleFetcher`). A sample's random transforms therefore draw
the same numbers whichever worker loads it, however many workers there are, and whether or not earlier batches
were loaded in this process: a run resumed from a checkpoint sees exactly the samples the uninterrupted run saw.
"""
from typing import Optional

from mmengine.dataset import InfiniteSampler
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from ..sample_fetcher import SampleFetcher
from ..seeding import SeededIndex, derive_seed


@DATA_SAMPLERS.register_module()
class SeededSampler(Sampler):
    """Any sampler, with a per-sample seed on each index and guarded loading (see the module docstring).

    Args:
        dataset: the dataset (given by the runner).
        sampler: config of the sampler that decides the order, e.g. ``dict(type='DefaultSampler', shuffle=True)``.
        seed: the run's seed (given by the runner); a common random one across ranks when None.
        skip_bad_samples: load the next sample in place of one whose files cannot be loaded (logged and counted)
            instead of stopping with an error that names them.
    """

    def __init__(self, dataset, sampler: dict, seed: Optional[int] = None, skip_bad_samples: bool = False):
        self.sampler = DATA_SAMPLERS.build(sampler, default_args=dict(dataset=dataset, seed=seed))
        self.dataset = dataset
        self.seed = getattr(self.sampler, 'seed', None)
        if self.seed is None:
            self.seed = sync_random_seed() if seed is None else seed
        self.rank = get_dist_info()[0]
        self.fetcher = SampleFetcher(dataset, skip_bad_samples)
        dataset.__getitems__ = self.fetcher
        self.resume_at = None  # (epoch, batches done, batch sampler): see start_epoch_at

    @property
    def infinite(self) -> bool:
        """Whether the order is one endless stream (positions never restart), as mmengine's InfiniteSampler."""
        return isinstance(self.sampler, InfiniteSampler)

    def pass_over(self, count: int) -> None:
        """Do not load the first ``count`` samples of an infinite stream: an empty dict stands in for each.

        mmengine's iteration-based loop draws the batches already trained again when it resumes, only to throw
        them away; their seeds say that nothing after them depends on loading them.
        """
        if not self.infinite:
            raise ValueError('only an infinite stream can be passed over: positions restart every epoch')
        self.fetcher.placeholders_before.value = count

    def start_epoch_at(self, epoch: int, batches_done: int, batch_sampler) -> None:
        """Hand out epoch ``epoch`` without the samples of its first ``batches_done`` batches (an epoch-based run
        resumed from a checkpoint saved in the middle of that epoch); the others keep the seeds of their
        positions, and other epochs are whole.

        Which samples those batches held is found by running ``batch_sampler`` over the epoch's indices once,
        without loading anything: grouping batch samplers (mmdet's AspectRatioBatchSampler) take samples out
        of order. The samples they left waiting in their groups come first again, so the epoch's remaining
        batches are the ones the uninterrupted run trained.
        """
        if self.infinite:
            raise ValueError('an infinite stream has no epochs to start in the middle of: see pass_over')
        self.resume_at = (epoch, batches_done, batch_sampler)

    def _skipped_count(self) -> int:
        if self.resume_at is None or self.resume_at[0] != self.epoch:
            return 0
        return self.resume_at[1] * self.resume_at[2].batch_size  # every batch but an epoch's last is full

    def _positions_done(self) -> set:
        epoch, batches_done, batch_sampler = self.resume_at
        self.resume_at = None  # the dry run below hands out the whole epoch
        try:
            done = set()
            for count, batch in enumerate(batch_sampler):  # to the end: grouping samplers reset their groups there
                if count < batches_done:
                    done.update(index.position for index in batch)
            return done
        finally:
            self.resume_at = (epoch, batches_done, batch_sampler)

    @property
    def epoch(self) -> int:
        """The wrapped sampler's epoch (0 for one without epochs)."""
        return getattr(self.sampler, 'epoch', 0)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        epoch = self.epoch
        done = self._positions_done() if self._skipped_count() else ()
        for position, index in enumerate(self.sampler):
            if position not in done:
                yield SeededIndex(index, derive_seed(self.seed, self.rank, epoch, position), position)

    def __len__(self) -> int:
        return max(len(self.sampler) - self._skipped_count(), 0)
