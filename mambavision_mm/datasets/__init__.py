"""Data: the seeded sampler configs name, per-sample seeding and loading, and dataset checks."""
from . import empty_dataset_guard
from .dataset_checks import DatasetError, check_dataset, check_num_classes
from .sample_fetcher import BadSampleError, SampleFetcher
from .samplers import SeededSampler

__all__ = ['DatasetError', 'check_dataset', 'check_num_classes', 'BadSampleError', 'SampleFetcher', 'SeededSampler']

empty_dataset_guard.install()
