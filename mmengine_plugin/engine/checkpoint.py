"""Loading mmengine checkpoints safely on torch >= 2.6, in every entry point.

mmengine 0.10.x pickles its message hub into each checkpoint: ``HistoryBuffer`` objects (numpy arrays
inside, and their statistics methods pickled as ``getattr(HistoryBuffer, 'mean')``) and numpy scalars.
torch >= 2.6 refuses those under ``weights_only=True``. Importing this module allow-lists exactly these
globals, so such files load with ``weights_only=True``; ``getattr`` is allow-listed only through a stand-in
that resolves HistoryBuffer's statistics methods and nothing else. mmengine's loader for local files is
replaced by one that loads this way and falls back to a full unpickle only for files that still need it
(logged once per file, with the reason). The replacement is the only registration here that overrides one of
mmengine's: its local-file scheme (prefix ``''``), which every ``load_checkpoint``, ``load_from`` and
``--resume`` goes through.
"""
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from mambavision_backbone.checkpoint import torch_load


def history_buffer_method(owner, name):
    """What ``builtins.getattr`` may do while a checkpoint is unpickled: look up a HistoryBuffer statistic."""
    if owner is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not allowed while loading a checkpoint')


def _numpy_globals():
    """numpy's array and scalar reconstruction, under the names numpy 1.x and 2.x pickle them with."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    codes = ('b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8', 'U', 'S')
    entries += [type(np.dtype(code)) for code in codes]
    for package in ('numpy.core', 'numpy._core'):  # files written under numpy 1.x name numpy.core
        entries += [(multiarray._reconstruct, f'{package}.multiarray._reconstruct'),
                    (multiarray.scalar, f'{package}.multiarray.scalar')]
    return entries


SAFE_GLOBALS = [HistoryBuffer, (history_buffer_method, 'builtins.getattr'), *_numpy_globals()]
torch.serialization.add_safe_globals(SAFE_GLOBALS)
# HistoryBuffer registers its built-in statistics (min, max, current, mean) in its first constructor call; a
# process that loads a checkpoint before any buffer exists (test.py, --resume) would otherwise refuse them.
HistoryBuffer()


# force=True replaces mmengine's own loader for local paths (``load_from_local``, registered under prefix ''),
# which calls torch.load with torch's default (weights_only=True on torch >= 2.6) and no allow-list.
@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename, map_location=None):
    """mmengine's loader for local paths: ``weights_only=True`` with the allow-list above.

    Files that hold other objects (e.g. the pickled training arguments of published ``.pth.tar`` files)
    are fully unpickled; the log says so once per file, with the reason.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    return torch_load(filename, map_location=map_location)
