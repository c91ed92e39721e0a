"""An optimizer-wrapper constructor that lets the published AMP recipes run where AMP cannot."""
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DeviceAwareOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, except that ``AmpOptimWrapper`` becomes ``OptimWrapper`` (fp32,
    logged once) on a machine with no accelerator, where mmengine's AmpOptimWrapper refuses to start.

    Set it as ``optim_wrapper.constructor``; everything else (``paramwise_cfg``, ...) works as in the default.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if optim_wrapper_cfg.get('type') == 'AmpOptimWrapper' and get_device() == 'cpu':
            optim_wrapper_cfg = {k: v for k, v in optim_wrapper_cfg.items() if k not in ('loss_scale', 'dtype')}
            optim_wrapper_cfg['type'] = 'OptimWrapper'
            print_log('no CUDA device: automatic mixed precision is switched off (OptimWrapper)', logger='current')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)


DECAY_TYPES = ('layer_wise', 'stage_wise')


def layer_id(name: str, depths, decay_type: str = 'layer_wise') -> int:
    """The layer id of a detector's or segmentor's parameter ``name`` for learning-rate decay.

    layer_wise: the stem 0, the blocks 1..N in order, each stage's downsampler and output norm with its stage's
    last block, everything outside the backbone N + 1 (N = sum(depths)). stage_wise: the stem 0, stage k (its
    blocks, downsampler and output norm) k, everything outside the backbone 5.
    """
    parts = name.split('.')
    total = sum(depths) if decay_type == 'layer_wise' else len(depths)
    if parts[0] != 'backbone':
        return total + 1
    if parts[1] == 'patch_embed':
        return 0
    if parts[1] == 'levels':
        stage = int(parts[2])
    elif parts[1].startswith('outnorm'):
        stage = int(parts[1][len('outnorm'):])
    else:
        raise ValueError(f'{name}: not a MambaVision parameter (no layer id)')
    if decay_type == 'stage_wise':
        return stage + 1
    if parts[1] == 'levels' and parts[3] == 'blocks':
        return sum(depths[:stage]) + int(parts[4]) + 1
    return sum(depths[:stage + 1])


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MambaVisionLayerDecayOptimizerConstructor(DeviceAwareOptimWrapperConstructor):
    """Layer-wise learning-rate decay for a MambaVision backbone, with the conventions of mmdet's and mmseg's
    ``LearningRateDecayOptimizerConstructor``.

    ``paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=N, custom_keys=...)``: every
    parameter's learning rate is multiplied by ``decay_rate ** (N + 1 - layer_id)`` (:func:`layer_id`; the
    heads keep theirs), on top of what ``custom_keys`` and the other options of mmengine's constructor set
    (the published recipes' no decay for norms). ``num_layers`` is the backbone's block count (T 16, S 18,
    B 21, L3 36) for ``layer_wise`` and 4 for ``stage_wise``. AMP recipes run on CPU as with
    :class:`DeviceAwareOptimWrapperConstructor`.
    """

    def __call__(self, model):
        module = model.module if hasattr(model, 'module') else model
        decay_rate = self.paramwise_cfg.get('decay_rate')
        decay_type = self.paramwise_cfg.get('decay_type', 'layer_wise')
        num_layers = self.paramwise_cfg.get('num_layers')
        backbone = getattr(module, 'backbone', None)
        depths = getattr(backbone, 'arch_settings', {}).get('depths')
        if depths is None:
            raise ValueError(f'{type(self).__name__} needs a MambaVision backbone; the model has '
                             f'{type(backbone).__name__}')
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'paramwise_cfg.decay_type must be one of {DECAY_TYPES}; got {decay_type!r}')
        expected = sum(depths) if decay_type == 'layer_wise' else len(depths)
        if num_layers != expected:
            what = f'its block count (depths {tuple(depths)})' if decay_type == 'layer_wise' else 'its stage count'
            raise ValueError(f'paramwise_cfg.num_layers must be {expected} for this backbone with {decay_type} decay, '
                             f'{what}; got {num_layers!r}')
        if not isinstance(decay_rate, (int, float)) or not 0 < decay_rate <= 1:
            raise ValueError(f'paramwise_cfg.decay_rate must be in (0, 1]; got {decay_rate!r}')
        wrapper = super().__call__(model)
        names = {id(p): n for n, p in module.named_parameters()}
        for group in wrapper.optimizer.param_groups:  # one per parameter: paramwise_cfg is set
            scale = decay_rate ** (num_layers + 1 - layer_id(names[id(group['params'][0])], depths, decay_type))
            group['lr'] *= scale
            group['lr_scale'] = scale
        return wrapper
