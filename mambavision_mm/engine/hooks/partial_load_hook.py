"""Fine-tuning from a checkpoint that does not fit the model exactly: another class count, a boxes-only detector
from a mask one. What fits is loaded; the rest is said in one line."""
import re

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.registry import HOOKS

from mambavision_backbone.checkpoint import backbone_state_dict, group_keys
from mambavision_backbone.errors import CheckpointReadError
from mambavision_backbone.model import detect_arch

from ..mmengine_internals import requested_checkpoint, resume_requested, train_loop_built


def describe_checkpoint(state: dict) -> str:
    """What a checkpoint's tensors are, in a few words: a MambaVision backbone alone, or its top-level modules."""
    arch = detect_arch(backbone_state_dict(dict(state)))
    tops = sorted({re.sub(r'^(module|model)\.', '', k).split('.')[0] for k in state})
    if arch and not any(top in ('neck', 'rpn_head', 'roi_head', 'decode_head', 'bbox_head') for top in tops):
        return f'a MambaVision-{arch.upper()} backbone alone (an ImageNet classification file?)'
    return f'{len(state)} tensors of {", ".join(tops[:6])}{", ..." if len(tops) > 6 else ""}'


@HOOKS.register_module()
class PartialLoadHook(Hook):
    """Fit a ``load_from`` checkpoint to the model before mmengine loads it, and report the misfits in one line.

    Tensors whose shape differs from the model's (the classifiers of another class count) keep the model's fresh
    initialisation, tensors the checkpoint lacks keep theirs, and tensors the model lacks (a mask head for a
    boxes-only detector) are left out: mmengine then loads an exact fit, instead of printing a table of
    mismatches and missing keys. Resuming (``--resume``) is left as it is: a resumed checkpoint must fit.
    Testing and validation need the whole model: a checkpoint with no tensor for one of its parts (an ImageNet
    backbone file given as detector weights) stops them with one line saying what the file holds.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if resume_requested(runner):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if isinstance(model, BaseTTAModel):  # mmengine loads into the wrapped model (--tta)
            model = model.module
        own = model.state_dict()
        state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
        training = train_loop_built(runner) is not None  # mmengine builds it before loading when training
        as_saved = dict(state)  # the loop below changes state in place
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
        parts_without_weights = sorted({name.split('.')[0] for name in own}
                                       - {name.split('.')[0] for name in loaded})
        if not training and parts_without_weights:
            raise CheckpointReadError(
                f'{requested_checkpoint(runner)} is not a checkpoint of this {type(model).__name__}: it holds '
                f'{describe_checkpoint(as_saved)}, and '
                f'nothing for {", ".join(parts_without_weights)}; test with the weights of a trained model (README, '
                'model zoo); an ImageNet backbone file belongs in model.backbone.init_cfg')
        for name in absent:
            state[name] = own[name]
        if not (reshaped or unused or absent):
            return
        parts = [f'load_from {requested_checkpoint(runner)}: {len(loaded)} of {len(own)} tensors loaded']
        if reshaped:
            parts.append(f'freshly initialised, their shapes differ: {", ".join(reshaped.values())}')
        if absent:
            parts.append(f'not in the checkpoint, freshly initialised: {group_keys(absent, loaded)}')
        if unused:
            parts.append(f'not in this model, left out: {group_keys(unused, own)}')
        print_log('; '.join(parts), logger='current')
