"""Fine-tuning from a checkpoint that does not fit the model exactly: another class count, a boxes-only detector
from a mask one. What fits is loaded; the rest is said in one line."""
import re

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from mambavision_backbone.checkpoint import group_keys


@HOOKS.register_module()
class PartialLoadHook(Hook):
    """Fit a ``load_from`` checkpoint to the model before mmengine loads it, and report the misfits in one line.

    Tensors whose shape differs from the model's (the classifiers of another class count) keep the model's fresh
    initialisation, tensors the checkpoint lacks keep theirs, and tensors the model lacks (a mask head for a
    boxes-only detector) are left out: mmengine then loads an exact fit, instead of printing a table of
    mismatches and missing keys. Resuming (``--resume``) is left as it is: a resumed checkpoint must fit.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        own = model.state_dict()
        state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
        reshaped, unused, loaded = {}, [], set()
        for key in list(state):
            name = re.sub(r'^module\.', '', key)  # as mmengine revises the keys of a DDP checkpoint
            if name not in own:
                unused.append(name)
                del state[key]
            elif tuple(state[key].shape) != tuple(own[name].shape):
                reshaped[name] = f'{name} {tuple(state[key].shape)} -> {tuple(own[name].shape)}'
                state[key] = own[name]
            else:
                loaded.add(name)
        absent = [name for name in own if name not in loaded and name not in reshaped]
        for name in absent:
            state[name] = own[name]
        if not (reshaped or unused or absent):
            return
        parts = [f'load_from {runner._load_from}: {len(loaded)} of {len(own)} tensors loaded']
        if reshaped:
            parts.append(f'freshly initialised, their shapes differ: {", ".join(reshaped.values())}')
        if absent:
            parts.append(f'not in the checkpoint, freshly initialised: {group_keys(absent, loaded)}')
        if unused:
            parts.append(f'not in this model, left out: {group_keys(unused, own)}')
        print_log('; '.join(parts), logger='current')
