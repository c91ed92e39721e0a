"""Reading MambaVision weights from the published file layouts.

Accepted: published classification checkpoints (``.pth.tar`` holding 'state_dict' or 'model', keys
possibly prefixed 'module.'), Hugging Face copies ('model.' prefix; safetensors or .bin) and full
mmdet/mmseg checkpoints (backbone keys under 'backbone.'). Classifier tensors ('head.*', 'norm.*')
are dropped.
"""
import logging
import os
import pickle
from typing import Dict, Optional

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)

CLASSIFIER_PREFIXES = ('head.', 'norm.')


_announced_full_unpickles = set()


def torch_load(path: str, map_location='cpu') -> object:
    """``torch.load``, safely (weights_only) when the file allows it.

    Files that pickle other objects (training arguments, numpy values, mmengine's message hub) are
    fully unpickled instead; the log says so and why, once per file. Only load files you trust.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as safe_error:
        lines = [line.strip() for line in str(safe_error).splitlines() if line.strip()]
        reason = next((line for line in lines if 'Unsupported' in line), lines[0] if lines else '')
        try:
            obj = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:
            raise ValueError(f'{path} is not a PyTorch checkpoint ({type(exc).__name__}: {exc})') from exc
        if path not in _announced_full_unpickles:
            _announced_full_unpickles.add(path)
            logger.warning('%s holds objects beyond tensors and plain data, so it was fully unpickled '
                           '(weights_only=False); only load checkpoints you trust. Reason: %s',
                           path, reason or 'unknown')
        return obj
    except FileNotFoundError:
        raise
    except Exception as exc:  # the unpickler fails on garbage in many ways (IndexError, EOFError, ...)
        raise ValueError(f'{path} is not a PyTorch checkpoint ({type(exc).__name__}: {exc})') from exc


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint file, unwrapping 'state_dict' / 'model' containers."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ImportError(f'reading {path} needs the safetensors package: pip install safetensors') from exc
        try:
            return load_file(path, device='cpu')
        except Exception as exc:
            raise ValueError(f'{path} is not a safetensors file ({exc})') from exc
    obj = torch_load(path)
    if isinstance(obj, dict):
        for key in ('state_dict', 'model'):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f'{path} holds no state dict (expected a mapping of names to tensors, possibly under '
                         "'state_dict' or 'model')")
    return dict(obj)


def _strip(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


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
        for wrapper in ('module.', 'model.'):
            if all(k.startswith(wrapper) for k in state_dict):
                state_dict = _strip(state_dict, wrapper)
    return {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIXES)}


def describe(state_dict: Dict[str, torch.Tensor]):
    """A backbone state dict's (dim, in_dim, depths, has layer scale) read off the tensor shapes, or None."""
    try:
        dim = state_dict['patch_embed.conv_down.3.weight'].shape[0]
        in_dim = state_dict['patch_embed.conv_down.0.weight'].shape[0]
    except KeyError:
        return None
    depths = tuple(len({k.split('.')[3] for k in state_dict if k.startswith(f'levels.{i}.blocks.')})
                   for i in range(4))
    return dim, in_dim, depths, any(k.endswith('gamma_1') for k in state_dict)


def detect_arch(state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """The ARCH_SETTINGS key whose model has exactly these tensor names and shapes, or None."""
    from .model import ARCH_SETTINGS, MambaVision  # the model module imports this one
    found = describe(state_dict)
    for name, s in ARCH_SETTINGS.items():
        if found != (s['dim'], s['in_dim'], tuple(s['depths']), s['layer_scale'] is not None):
            continue
        with torch.device('meta'):
            expected = MambaVision(name).state_dict()
        own = {k: v for k, v in state_dict.items() if not k.startswith('outnorm')}
        if all(k in own and own[k].shape == v.shape for k, v in expected.items() if not k.startswith('outnorm')) \
                and set(own) <= set(expected):
            return name
    return None


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


def load_pretrained(model: nn.Module, path: str, prefix: Optional[str] = None) -> str:
    """Load backbone weights from ``path`` into ``model``; logs and returns a one-line summary.

    Raises FileNotFoundError for a missing file, ValueError for a file that is not a checkpoint,
    holds no backbone tensor, or has a tensor whose shape differs from the model's.
    """
    source = backbone_state_dict(read_state_dict(path), prefix)
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
