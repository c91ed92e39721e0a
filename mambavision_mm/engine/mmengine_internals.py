"""Every use of a private name of mmengine (0.10.x), each with the reason no public one does the job.

Nothing else in the packages touches a private method or attribute of mmengine. What each function relies on is
checked by ``tests/test_mambavision_mm/test_engine/test_mmengine_internals.py``, so that an mmengine release that
changes it fails there, by name.
"""
from typing import List, Optional

from mmengine.dataset import BaseDataset
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import HistoryBuffer
from mmengine.runner import BaseLoop


# The runner's load_from and resume. mmengine 0.10 keeps them only as ``_load_from`` and ``_resume``, and decides
# between loading and resuming in ``load_or_resume()``, after the hooks' ``before_run``, with no way for a hook
# to change that decision or to read what was asked for.
def resume_requested(runner) -> bool:
    """Whether the runner was asked to resume (``resume=True``, ``--resume``)."""
    return bool(runner._resume)


def requested_checkpoint(runner) -> Optional[str]:
    """The checkpoint the runner was asked to load or resume from (``load_from``, ``--resume PATH``), or None."""
    return runner._load_from


def set_load_or_resume(runner, resume: bool, load_from: Optional[str]) -> None:
    """Have ``load_or_resume()`` resume (or load) from ``load_from`` instead of what the runner was built with."""
    runner._resume, runner._load_from = resume, load_from


# The runner's loops. ``runner.train_loop`` (and val/test) builds the loop on first access and raises when the
# config has none; ``_train_loop`` holds the config until then, so reading it neither builds nor raises.
def built_loops(runner) -> List[BaseLoop]:
    """The train, val and test loops the runner has built so far, in that order."""
    return [loop for loop in (runner._train_loop, runner._val_loop, runner._test_loop) if isinstance(loop, BaseLoop)]


def train_loop_built(runner) -> Optional[BaseLoop]:
    """The training loop when the runner has built one (it does before loading a checkpoint to train), else None."""
    return runner._train_loop if isinstance(runner._train_loop, BaseLoop) else None


class StepCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook whose interval and last saves on local disk go to :meth:`save_with_step`.

    mmengine sends them through the private ``_save_checkpoint_with_step``, which removes the expired checkpoint
    before the new one is written and writes ``last_checkpoint`` in place; a kill in between leaves no readable
    checkpoint, or a pointer to a missing one. This is the one override of that method.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):  # e.g. object storage: no rename to rely on
            return super()._save_checkpoint_with_step(runner, step, meta)
        self.save_with_step(runner, step, meta)

    def save_with_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step`` (an epoch or an iteration, by ``self.by_epoch``)."""
        raise NotImplementedError


def history_buffer_statistics() -> dict:
    """HistoryBuffer's statistics methods by name (min, max, current, mean and any registered since); a
    checkpoint pickles them as ``getattr(HistoryBuffer, name)``. mmengine keeps the registry private."""
    return HistoryBuffer._statistics_methods


def load_weights_into_inferencer(inferencer, checkpoint: dict) -> None:
    """Load a checkpoint already read (and checked) into an mmdet or mmseg inferencer's model, with the dataset
    meta the inferencer takes from it. The inferencers' public way reads the file again, by path, in their
    constructor, and only warns when it does not fit."""
    inferencer._load_weights_to_model(inferencer.model, checkpoint, inferencer.cfg)


def guard_dataset_serialisation(guard) -> None:
    """Wrap ``BaseDataset._serialize_data`` (once) in ``guard``, a decorator marked ``guards_serialisation``.

    A dataset serialises its samples while it is built (``full_init``), before any hook can look at it, and
    fails on an empty sample list with numpy's "need at least one array to concatenate"; mmengine has no hook or
    registry entry there, and the datasets are mmdet's and mmseg's own classes, which configs name."""
    if not getattr(BaseDataset._serialize_data, 'guards_serialisation', False):
        BaseDataset._serialize_data = guard(BaseDataset._serialize_data)
