"""An empty dataset named when it is built, instead of numpy's "need at least one array to concatenate".

mmengine's ``BaseDataset`` serialises its samples into one array when it is fully initialised, which fails on an
empty list before any hook can look at the dataset (a wrong image folder, or a COCO file whose annotations
match none of its images). The guard raises :class:`DatasetError` with what to check instead; datasets with
samples are serialised exactly as before.
"""
import functools

from ..engine.mmengine_internals import guard_dataset_serialisation
from .dataset_checks import empty_dataset_error


def _refuse_empty(serialize):
    @functools.wraps(serialize)
    def serialize_or_refuse(self):
        if not self.data_list:
            raise empty_dataset_error(self)
        return serialize(self)
    serialize_or_refuse.guards_serialisation = True
    return serialize_or_refuse


def install() -> None:
    """Refuse empty datasets when they are built (once)."""
    guard_dataset_serialisation(_refuse_empty)
