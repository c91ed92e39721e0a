"""Loading checkpoints safely in every mmengine entry point, from local files and URLs.

mmengine 0.10.x pickles its message hub into each checkpoint: ``HistoryBuffer`` objects, whose statistics
methods are pickled as ``getattr(HistoryBuffer, 'mean')``. :data:`RUNNER_CHECKPOINT_ALLOW_LIST` is the core
allow-list with exactly these (``getattr`` only through a stand-in that resolves HistoryBuffer's statistics and
nothing else), the one every loader of the plugin layer reads with. Importing this module replaces mmengine's
loader for local files (prefix ``''``, which every ``load_checkpoint``, ``load_from`` and ``--resume`` goes
through) and for URLs (``http://``, ``https://``; mmengine's own goes through ``torch.hub`` with
``weights_only=False``) by ones that read with that allow-list and never fully unpickle. A URL is downloaded
once into torch's hub cache (:mod:`mambavision_backbone.hub`) and read from there afterwards, with no request.
"""
import os.path as osp
import pickle

import torch.distributed as dist
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from mambavision_backbone.checkpoint import CHECKPOINT_ALLOW_LIST, torch_load
from mambavision_backbone.hub import download_checkpoint, require_checkpoint

from .mmengine_internals import history_buffer_statistics


def history_buffer_method(owner, name):
    """What ``builtins.getattr`` may do while a checkpoint is unpickled: look up a HistoryBuffer statistic."""
    if owner is HistoryBuffer and name in history_buffer_statistics():
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({owner.__module__}.{owner.__qualname__}, {name!r}) is not allowed '
                                 'while loading a checkpoint')


RUNNER_CHECKPOINT_ALLOW_LIST = CHECKPOINT_ALLOW_LIST.extended(
    [HistoryBuffer, (history_buffer_method, 'builtins.getattr')],
    "mmengine runner checkpoints (the message hub's HistoryBuffers and their statistics)")
# HistoryBuffer registers its built-in statistics (min, max, current, mean) in its first constructor call; a
# process that loads a checkpoint before any buffer exists (test.py, --resume) would otherwise refuse them.
HistoryBuffer()


# force=True replaces mmengine's own loader for local paths (``load_from_local``, registered under prefix ''),
# which calls torch.load with torch's default (weights_only=True on torch >= 2.6) and no allow-list.
@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename, map_location=None):
    """mmengine's loader for local paths: ``weights_only=True`` with the allow-list, and nothing else."""
    filename = osp.expanduser(filename)
    require_checkpoint(filename)
    return torch_load(filename, map_location=map_location, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)


# force=True replaces mmengine's ``load_from_http``, which unpickles the downloaded file in full.
@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)
def load_url_checkpoint(filename, map_location=None):
    """mmengine's loader for URLs: download once into torch's hub cache (rank 0 first, the other ranks after a
    barrier, so that one node downloads once), then load like a local file."""
    rank, world_size = get_dist_info()
    if rank == 0:
        path = download_checkpoint(filename)
    if world_size > 1:
        dist.barrier()
        if rank > 0:
            path = download_checkpoint(filename)
    return torch_load(path, map_location=map_location, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)
