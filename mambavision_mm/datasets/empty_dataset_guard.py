"""An empty dataset named when it is built, instead of numpy's "need at least one array to concatenate".

mmengine's ``BaseDataset`` serialises its samples into one array when it is fully initialised, which fails on an
empty list before any hook can look at the dataset (a wrong image folder, or a COCO file whose annotations
match none of its images). The guard raises :class:`DatasetError` with what to check instead; datasets with
samples are serialised exactly as before.
"""
import functools

from mmengine.dataset import BaseDataset

from .dataset_checks import empty_dataset_error


def _refuse_empty(serialize):
    @functools.wraps(serialize)
    def serialize_or_refuse(self):
        if not self.data_list:
            raise empty_dataset_error(self)
        return serialize(self)
    serialize_or_refuse.refuses_empty = True
    return serialize_or_refuse


def install() -> None:
    """Guard ``BaseDataset._serialize_data`` (once)."""
    if not getattr(BaseDataset._serialize_data, 'refuses_empty', False):
        BaseDataset._serialize_data = _refuse_empty(BaseDataset._serialize_data)
