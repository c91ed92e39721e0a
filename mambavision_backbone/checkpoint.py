"""Reading MambaVision weights from the published file layouts.

Accepted: published classification checkpoints (``.pth.tar`` holding 'state_dict' or 'model', keys
possibly prefixed 'module.'), Hugging Face copies ('model.' prefix; safetensors or .bin) and full
mmdet/mmseg checkpoints (backbone keys under 'backbone.'). Classifier tensors ('head.*', 'norm.*')
are dropped.

Every file is read with ``torch.load(weights_only=True)`` and an explicit allow-list of the few globals
that published and mmengine-written files hold (:class:`AllowList`); a file that needs anything else is
refused, never fully unpickled.
"""
import argparse
import logging
import os
import re
import zipfile
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .errors import CheckpointReadError, UnsafeCheckpointError
from .hub import local_checkpoint, require_checkpoint, written_without_crcs

logger = logging.getLogger(__name__)

CLASSIFIER_PREFIXES = ('head.', 'norm.')
WRAPPER_PREFIXES = ('module.', 'model.')
CONVERTER = 'python -m mambavision_tools.convert_checkpoint'


def _numpy_globals() -> list:
    """numpy's array, dtype and scalar reconstruction, under the names numpy 1.x and 2.x pickle them with."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    codes = ('b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8', 'U', 'S')
    entries += [type(np.dtype(code)) for code in codes]
    for package in ('numpy.core', 'numpy._core'):  # files written under numpy 1.x name numpy.core
        entries += [(multiarray._reconstruct, f'{package}.multiarray._reconstruct'),
                    (multiarray.scalar, f'{package}.multiarray.scalar')]
    return entries


@dataclass(frozen=True)
class AllowList:
    """What a checkpoint may hold beyond tensors and plain data: ``torch.load(weights_only=True)`` with these
    globals and nothing else. Each entry is a class or function, or a ``(function, 'module.name')`` pair as
    ``torch.serialization.add_safe_globals`` takes it, with the files that need it. Immutable: a layer that
    needs more makes its own with :meth:`extended` and passes it to the loaders."""

    entries: Tuple[Tuple[object, str], ...] = ()

    def extended(self, entries: list, needed_by: str) -> 'AllowList':
        """This allow-list and ``entries``, which ``needed_by`` says which files hold."""
        return AllowList(self.entries + tuple((entry, needed_by) for entry in entries))

    def globals(self) -> list:
        """The entries as ``torch.serialization.safe_globals`` takes them."""
        return [entry for entry, _ in self.entries]

    def names(self) -> Dict[str, str]:
        """The allow-list as ``{'module.name': the files that need it}``."""
        def name(entry):
            return entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
        return {name(entry): needed_by for entry, needed_by in self.entries}


# What published files and mmengine runner files written without mmengine objects need. torch itself allows
# OrderedDict and Counter (mmengine's MultiStepParamScheduler pickles its milestones as a Counter). The plugin
# layer extends it with mmengine's HistoryBuffer (mambavision_mm/engine/checkpoint.py).
CHECKPOINT_ALLOW_LIST = AllowList().extended(
    [argparse.Namespace], 'published ImageNet .pth.tar files (their training arguments)').extended(
    _numpy_globals(), 'mmengine runner checkpoints (numpy values in meta and the message hub), written under '
                      'numpy 1.x or 2.x')


def refusal(path: str, error: Exception) -> Optional[str]:
    """The one-line message for a file that the weights-only unpickler refused, or None when ``error`` is not
    a refusal (a damaged or foreign file)."""
    text = str(error)
    found = re.search(r'(getattr\(.*?\)) is not allowed', text) or re.search(r'GLOBAL ([\w.]+)', text)
    if found is None:
        return None
    name = found.group(1)
    if '.' not in name:  # torch names builtins without their module; its scan of the file has full names
        try:
            name = next(iter(torch.serialization.get_unsafe_globals_in_checkpoint(path)), name)
        except Exception:  # not a zip checkpoint (torch's legacy format): keep torch's name
            pass
    return (f'{path} was refused: loading it would call {name}, which is not on the allow-list of what '
            f'a checkpoint may hold (it could run code). If you trust this file, convert it once: '
            f'{CONVERTER} {path} SAFE_COPY.pth --trust-pickle')


def check_archive(path: str) -> None:
    """Refuse a ``torch.save`` archive whose bytes changed after it was written: CheckpointReadError naming the
    first member that fails its CRC check. torch itself reads a damaged member without a word. An archive written
    without CRCs (``torch.serialization.set_crc32_options(False)``) is read unchecked, with a logged line; other
    formats (torch's legacy pickle) record no CRCs."""
    with open(path, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':  # torch.save's zip archive starts with its first member's header
            return
    try:
        with zipfile.ZipFile(path) as archive:
            if written_without_crcs(archive):
                logger.info('%s was written without CRCs (torch.serialization.set_crc32_options(False)): its bytes '
                            'are not checked', path)
                return
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:  # a damaged header
        raise CheckpointReadError(f'{path} is damaged ({type(exc).__name__}: {exc}); fetch or copy it again') from None
    if damaged:
        raise CheckpointReadError(f'{path} is damaged: its member {damaged} fails its CRC check (the file changed '
                                  'after it was written); fetch or copy it again')


def torch_load(path: str, map_location='cpu', allow_list: AllowList = CHECKPOINT_ALLOW_LIST) -> object:
    """``torch.load(path, weights_only=True)`` with ``allow_list``, and nothing else, once :func:`check_archive`
    found every byte as written. A URL is read from its cached download
    (:func:`mambavision_backbone.hub.download_checkpoint`).

    Raises UnsafeCheckpointError (one line naming the first disallowed global and the one-time conversion)
    for a file that holds anything else, CheckpointReadError for a file that is not a PyTorch checkpoint.
    """
    path = local_checkpoint(path)
    if os.path.isfile(path):
        check_archive(path)
    with torch.serialization.safe_globals(allow_list.globals()):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # the unpickler fails on garbage in many ways (IndexError, EOFError, ...)
            message = refusal(path, exc)
            if message:
                raise UnsafeCheckpointError(message) from None
            raise CheckpointReadError(f'{path} is not a PyTorch checkpoint ({type(exc).__name__}: '
                                      f'{str(exc).splitlines()[0] if str(exc) else ""})') from exc


def plain_data(value, replaced: Optional[List[str]] = None, where: str = ''):
    """``value`` with nothing a weights-only load refuses: tensors, numbers, strings and containers kept,
    numpy values as Python numbers and lists, ``argparse.Namespace`` as a dict, any other object as its
    ``repr`` (its place appended to ``replaced``)."""
    if isinstance(value, (np.generic, np.ndarray)):  # before the numbers: np.float64 is a float
        return value.tolist()
    if isinstance(value, (torch.Tensor, torch.dtype, torch.device, str, bytes, int, float, complex, bool,
                          type(None))):
        return value
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    if isinstance(value, dict):
        kind = type(value) if type(value) in (OrderedDict, Counter) else dict  # both allowed by torch itself
        return kind({k: plain_data(v, replaced, f'{where}.{k}' if where else str(k)) for k, v in value.items()})
    if isinstance(value, (list, tuple, set)):
        items = [plain_data(v, replaced, f'{where}[{i}]') for i, v in enumerate(value)]
        return items if isinstance(value, list) else set(items) if isinstance(value, set) else tuple(items)
    if replaced is not None:
        replaced.append(f'{where or "the whole file"} ({type(value).__module__}.{type(value).__qualname__})')
    return repr(value)


def read_state_dict(path: str, allow_list: AllowList = CHECKPOINT_ALLOW_LIST) -> Dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint file or URL (:func:`torch_load` with ``allow_list``), unwrapping
    'state_dict' / 'model' containers."""
    require_checkpoint(path)
    path = local_checkpoint(path)
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ImportError(f'reading {path} needs the safetensors package: pip install safetensors') from exc
        try:
            return load_file(path, device='cpu')
        except Exception as exc:
            raise CheckpointReadError(f'{path} is not a safetensors file ({exc})') from exc
    obj = torch_load(path, allow_list=allow_list)
    if isinstance(obj, dict):
        for key in ('state_dict', 'model'):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointReadError(f'{path} holds no state dict (expected a mapping of names to tensors, possibly '
                                  "under 'state_dict' or 'model')")
    return dict(obj)


def _strip(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def without_wrapper(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state_dict`` without the prefix a wrapper put on every key: 'module.' (DistributedDataParallel) or
    'model.' (Hugging Face copies)."""
    for wrapper in WRAPPER_PREFIXES:
        if state_dict and all(k.startswith(wrapper) for k in state_dict):
            return _strip(state_dict, wrapper)
    return state_dict


def backbone_state_dict(state_dict: Dict[str, torch.Tensor], prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Map any accepted key layout onto the backbone's own names.

    ``prefix`` selects the keys under it explicitly; otherwise a full detector/segmentor checkpoint
    ('backbone.*') keeps its backbone, and 'module.' and 'model.' wrappers are removed.
    """
    if prefix:
        state_dict = _strip(state_dict, prefix if prefix.endswith('.') else prefix + '.')
    elif any(k.startswith('backbone.') for k in state_dict):
        state_dict = _strip(state_dict, 'backbone.')
    else:
        state_dict = without_wrapper(state_dict)
    return {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIXES)}


def group_keys(keys, present) -> str:
    """'levels.3 (58 tensors), outnorm3 (2 tensors)': ``keys`` counted by their largest module (name prefix) that
    has no key in ``present``, so that a stage not built or a classifier's head is one short phrase."""
    prefixes = {'.'.join(k.split('.')[:i]) for k in present for i in range(1, k.count('.') + 1)}
    counts = {}
    for key in sorted(keys):
        parts = key.split('.')
        module = next(('.'.join(parts[:i]) for i in range(1, len(parts)) if '.'.join(parts[:i]) not in prefixes),
                      key)
        counts[module] = counts.get(module, 0) + 1
    return ', '.join(f'{module} ({n} tensor{"s" * (n > 1)})' for module, n in counts.items())


def load_pretrained(model: nn.Module, path: str, prefix: Optional[str] = None,
                    allow_list: AllowList = CHECKPOINT_ALLOW_LIST) -> str:
    """Load backbone weights from ``path`` (read with ``allow_list``) into ``model``; logs and returns a one-line
    summary.

    Raises FileNotFoundError for a missing file, ValueError for a file that is not a checkpoint,
    holds no backbone tensor, or has a tensor whose shape differs from the model's.
    """
    source = backbone_state_dict(read_state_dict(path, allow_list), prefix)
    own = model.state_dict()
    mismatched = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                  for k, v in source.items() if k in own and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(f'shape mismatch loading {path} (is it the same MambaVision variant?):\n  '
                         + '\n  '.join(mismatched))
    matched = {k: v for k, v in source.items() if k in own}
    if not matched:
        raise ValueError(f'{path} holds no tensor of this backbone (first keys: {sorted(source)[:5]})')
    result = model.load_state_dict(matched, strict=False)
    unexpected = group_keys(set(source) - set(own), own)
    summary = (f'loaded {len(matched)}/{len(own)} backbone tensors from {path}; '
               f'missing: {result.missing_keys or "none"}; not in this model: {unexpected or "none"}')
    logger.info(summary)
    return summary
