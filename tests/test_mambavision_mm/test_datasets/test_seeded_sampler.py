"""SeededSampler and its fetcher: per-sample seeds, bad files named or skipped, pipelines failing named, killed
workers named with the samples they held."""
import os
import shutil
import signal
import time

import numpy as np
import pytest
import torch

from mambavision_mm.datasets import BadSampleError, DatasetError, SampleFetcher, SeededSampler
from mambavision_mm.datasets.seeding import SeededIndex

from ...helpers.paths import MICRO_SEG, TRAIN
from ...helpers.processes import run_tool
from ...helpers.training import workers


def test_truncated_image_mid_epoch_is_named_with_workers(micro_data, tmp_path):
    shutil.copytree(micro_data / 'data', tmp_path / 'data')
    image = tmp_path / 'data/toy_ade/images/training/toy_training_000002.jpg'
    image.write_bytes(image.read_bytes()[:600])
    out = run_tool([TRAIN, MICRO_SEG, '--work-dir', 'w', *workers(2)], tmp_path, ok=False)
    assert 'BadSampleError' in out
    assert 'data/toy_ade/images/training/toy_training_000002.jpg is a truncated JPEG (no end-of-image marker)' in out


def test_empty_annotation_map_is_skipped_and_counted_when_configured(micro_data, tmp_path):
    shutil.copytree(micro_data / 'data', tmp_path / 'data')
    (tmp_path / 'data/toy_ade/annotations/training/toy_training_000001.png').write_bytes(b'')
    out = run_tool([TRAIN, MICRO_SEG, '--work-dir', 'w', *workers(2), 'train_dataloader.sampler.skip_bad_samples=True',
                    'train_cfg.max_iters=4'], tmp_path)
    skipped = [line for line in out.splitlines() if 'skipped training sample' in line]
    # 4 iterations of 2 samples from 4 images: the bad one comes up at least twice (workers load ahead), each
    # time replaced; the two workers share the count
    assert len(skipped) >= 2 and all('data/toy_ade/annotations/training/toy_training_000001.png is empty (0 bytes)'
                                     in line for line in skipped)
    counts = sorted(int(line.rsplit('(', 1)[1].split()[0]) for line in skipped)
    assert counts == list(range(1, len(skipped) + 1))
    assert 'Iter(train) [4/4]' in out


class DrawingDataset:
    """Three samples that draw a random number each; sample 1's pipeline fails (a bug, not bad data)."""

    def __init__(self, image):
        self.image = image

    def __len__(self):
        return 3

    def get_data_info(self, index):
        return dict(img_path=self.image)

    def __getitem__(self, index):
        if index == 1:
            raise KeyError('gt_masks')
        return np.random.rand(), torch.rand(()).item()


def test_samples_draw_from_their_own_seed_and_failing_pipelines_are_named_not_skipped(micro_data):
    image = str(micro_data / 'data/toy_ade/images/training/toy_training_000000.jpg')
    fetcher = SampleFetcher(DrawingDataset(image), skip_bad_samples=True)
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    first = fetcher([SeededIndex(0, 7), SeededIndex(2, 7), SeededIndex(0, 8)])
    assert first[0] == first[1] != first[2]  # the seed decides, not the index or what was drawn before
    assert fetcher([SeededIndex(0, 8)]) == first[2:]
    assert (np.random.get_state()[1] == state).all()  # the main process's stream did not move
    fetcher.placeholders_before.value = 5  # a resumed run replaying its first 5 samples (SeededSampler.pass_over)
    assert fetcher([SeededIndex(2, 7, position=4), SeededIndex(2, 7, position=5)]) == [{}, first[1]]
    with pytest.raises(DatasetError, match=f'^training sample 1 \\({image}\\) failed to load: KeyError') as raised:
        fetcher([SeededIndex(1, 7, position=5)])
    assert not isinstance(raised.value, BadSampleError) and fetcher.skipped.value == 0


class Numbers:
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return index


def seeds(epoch, rank=0, seed=3):
    """The (index, position, seed) of each sample a SeededSampler yields around an unshuffled DefaultSampler."""
    sampler = SeededSampler(Numbers(), dict(type='DefaultSampler', shuffle=False), seed=seed)
    sampler.rank = rank
    sampler.set_epoch(epoch)
    return [(int(i), i.position, i.seed) for i in sampler]


def test_every_sample_of_every_epoch_and_rank_has_its_own_seed():
    first = seeds(epoch=0)
    assert [(index, position) for index, position, _ in first] == [(i, i) for i in range(8)]
    assert len({seed for *_, seed in first}) == 8  # one augmentation stream per sample, not one per epoch
    assert seeds(epoch=0) == first  # and the same stream again when the run is resumed
    for other in (seeds(epoch=1), seeds(epoch=0, rank=1), seeds(epoch=0, seed=4)):
        assert not {seed for *_, seed in other} & {seed for *_, seed in first}


class BlockingDataset:
    """Samples 0 and 1 load at once; sample 2 writes its loader's pid to ``pid_file`` and blocks."""

    def __init__(self, folder):
        self.folder = folder
        for index in range(4):
            (folder / f'sample_{index}.txt').write_text(str(index))

    def __len__(self):
        return 4

    def get_data_info(self, index):
        return dict(img_path=str(self.folder / f'sample_{index}.txt'))

    def __getitem__(self, index):
        if index == 2:
            (self.folder / 'pid').write_text(str(os.getpid()))
            time.sleep(120)
        return index


def test_a_worker_killed_while_loading_is_named_with_the_samples_it_held(tmp_path):
    dataset = BlockingDataset(tmp_path)
    fetcher = dataset.__getitems__ = SampleFetcher(dataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=1, collate_fn=list, timeout=60)
    batches = iter(loader)
    assert next(batches) == [0, 1]
    with pytest.raises(RuntimeError) as died:
        while not (tmp_path / 'pid').exists():
            time.sleep(0.01)
        pid = int((tmp_path / 'pid').read_text())
        os.kill(pid, signal.SIGKILL)
        next(batches)
    # torch says "is killed by signal: Killed" when its SIGCHLD handler sees the death first, else "exited
    # unexpectedly" (the main process found the worker gone while it waited)
    held = f'while loading training samples 2 ({tmp_path}/sample_2.txt), 3 ({tmp_path}/sample_3.txt)'
    assert fetcher.lost_workers(died.value) in (f'data-loader worker 0 (pid {pid}) was killed (signal: Killed) {held}',
                                                f'data-loader worker 0 (pid {pid}) exited unexpectedly {held}')
    assert fetcher.lost_workers(RuntimeError(f'DataLoader worker (pid(s) {pid}, 7) exited unexpectedly')) == (
        f'data-loader worker 0 (pid {pid}) exited unexpectedly {held}; data-loader worker (pid 7) exited unexpectedly')
    assert fetcher.lost_workers(RuntimeError('CUDA out of memory')) is None
