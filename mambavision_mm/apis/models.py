"""Configs, models and whole-model checkpoints, read one way by every tool.

:func:`read_config` checks the file, applies ``--cfg-options`` and imports the config's plugins;
:func:`build_model` builds the detector or segmentor in the registry of the config's default scope;
:func:`load_checkpoint` reads a checkpoint of the whole model once, refuses it in one line naming the keys when
it does not fit, and loads it.
"""
import os.path as osp
from typing import Optional

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_state_dict

from mambavision_backbone.checkpoint import torch_load, without_wrapper
from mambavision_backbone.hub import require_checkpoint

from ..engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST
from .inputs import InputError

SCOPES = ('mmdet', 'mmseg')


def read_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` with ``cfg_options`` merged in; InputError when the file does not exist."""
    if not osp.isfile(path):
        raise InputError(f'config {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def inner_dataset(dataset_cfg: dict) -> dict:
    """The dataset a dataset config reads: itself, or the one its wrappers (ConcatDataset, ...) hold."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    return dataset_cfg


def task_scope(cfg: Config) -> str:
    """The config's default scope, 'mmdet' or 'mmseg'; InputError for any other."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise InputError(f"config {cfg.filename} has default_scope {scope!r}; expected 'mmdet' or 'mmseg'")
    return scope


def build_model(cfg: Config) -> nn.Module:
    """The model ``cfg.model`` describes, with its initial weights, built in the config's default scope
    (``init_weights()`` is left to the caller: it may read the backbone's published ImageNet file)."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model)


def check_checkpoint_path(checkpoint: str) -> None:
    """InputError when ``checkpoint`` is neither a URL nor an existing file."""
    try:
        require_checkpoint(checkpoint)
    except FileNotFoundError as error:
        raise InputError(str(error)) from None


def _some(keys) -> str:
    return f'{len(keys)} ({", ".join(keys[:3])}{", ..." if len(keys) > 3 else ""})'


def load_checkpoint(model: nn.Module, checkpoint: str, load: bool = True) -> dict:
    """Read the whole-model ``checkpoint`` (a file or URL) once and load it into ``model`` (``load=False``:
    only check it); InputError naming the missing, unexpected and mis-shaped keys when it does not fit.
    Returns the checkpoint (its ``meta`` holds the dataset's classes when training wrote it)."""
    check_checkpoint_path(checkpoint)
    loaded = torch_load(checkpoint, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)
    state = without_wrapper(loaded.get('state_dict', loaded)) if isinstance(loaded, dict) else {}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state)
                        if hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise InputError(f'checkpoint {checkpoint} does not fit the config: missing keys {_some(missing)}, '
                         f'unexpected keys {_some(unexpected)}, shape mismatches {_some(mismatched)}')
    if load:
        load_state_dict(model, state, strict=True)
    return loaded


def dataset_meta(cfg: Config, checkpoint: Optional[dict] = None) -> dict:
    """The classes and palette: the checkpoint's ``dataset_meta`` when it has one, as the inferencers take
    them, else the config's test dataset's (its class's METAINFO updated by ``metainfo``)."""
    meta = checkpoint.get('meta', {}).get('dataset_meta') if isinstance(checkpoint, dict) else None
    if meta:
        return meta
    import importlib
    dataset_cfg = cfg.test_dataloader.dataset
    registry = importlib.import_module(f'{cfg.default_scope}.registry').DATASETS
    meta = dict(getattr(registry.get(dataset_cfg.type), 'METAINFO', {}))
    meta.update(dataset_cfg.get('metainfo') or {})
    return meta


def test_resize(cfg: Config) -> Optional[dict]:
    """The test pipeline's Resize (``scale`` and ``keep_ratio``), or None (also for a config without one)."""
    if not cfg.get('test_dataloader'):
        return None
    for step in inner_dataset(cfg.test_dataloader.dataset).get('pipeline', []):
        if step.get('type') == 'Resize':
            return dict(scale=list(step['scale']), keep_ratio=bool(step.get('keep_ratio', False)))
    return None
