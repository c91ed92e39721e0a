"""The peak training memory of one GPU, planned on the CPU from one training step of the config's model.

Parts (bytes; the GPU's ``torch.cuda.max_memory_allocated``, which mmengine logs as ``memory``):

- parameters: the model's parameters and buffers;
- gradients: one float32 gradient per trainable parameter (AMP keeps float32 weights and gradients);
- optimizer: the state the config's optimizer keeps (AdamW: two moments per trainable parameter);
- activations: the bytes saved for backward by one training step, counted with saved-tensor hooks at the config's
  crop and batch (each storage once, parameters excluded; under AMP the half-precision copies of the weights
  count, as they live until backward; with gradient checkpointing, each block's input, which the checkpoint
  saves). The selective scan saves what the GPU kernel saves (mamba-ssm's or our Triton kernel: stand-ins save the
  same shapes); PyTorch's attention on the CPU saves what the GPU kernels save (q, k, v, output, log-sum-exp);
- transient: what is alive beyond the activations at the peak of the forward and backward (the gradients
  built so far, gradients of activations, temporaries);
- step: the optimizer's temporaries (foreach implementations: one float32 copy of a parameter group), DDP's
  gradient buckets (a copy of the gradients when training on several GPUs) and an EMA copy of the model.

mmengine's optimizer wrappers free the gradients after each step (``zero_grad`` sets them to None), so a step
begins without them: they are built during backward while the activations are freed, and the peak is
parameters + optimizer + DDP buckets + EMA + max(activations + transient, gradients + optimizer temporaries).

The step runs under fake tensors (shapes without data: seconds, no memory) where the model's loss allows it,
otherwise (detection: assigners and samplers depend on the data) for real on the CPU, with half precision as
bfloat16 (the same bytes as float16) and its convolutions and matrix products computed in float32
(:class:`~.memory_tracking.HalfInFloat32`).
"""
import contextlib
import copy
import inspect
import logging
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper

from mambavision_backbone import MambaVision
from mambavision_backbone.layers import Attention, MambaVisionMixer

from ..apis.inputs import InputError
from ..apis.models import build_model, task_scope
from ..testing.batches import synthetic_batch
from .memory_tracking import (
    SCAN_STAND_INS,
    HalfInFloat32,
    LiveBytes,
    SavedTensorCount,
    saving_attention,
    storage_bytes,
    storage_key,
)

AMP_CHOICES = ('fp16', 'bf16', 'none')
DETECTION_SHAPE = (800, 1333)
HEAD_NAMES = ('decode_head', 'auxiliary_head', 'rpn_head', 'roi_head', 'bbox_head', 'mask_head')


@dataclass
class Setting:
    """What a training run sets that memory depends on; None: as the config says."""

    batch: Optional[int] = None
    amp: Optional[str] = None
    with_cp: Optional[bool] = None
    frozen_stages: Optional[int] = None
    scan_backend: str = 'cuda'
    shape: Optional[Tuple[int, int]] = None
    num_gt: int = 20
    gpus: int = 8


@dataclass
class MemoryPlan:
    """The parts of one GPU's peak training memory, in bytes (see the module docstring)."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    transient: int
    optimizer_temporaries: int
    ddp_buckets: int
    ema: int
    activations_by_part: Dict[str, int]
    setting: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return (self.parameters + self.optimizer + self.ddp_buckets + self.ema
                + max(self.activations + self.transient, self.gradients + self.optimizer_temporaries))

    def as_dict(self) -> dict:
        return dict(parameters=self.parameters, gradients=self.gradients, optimizer=self.optimizer,
                    activations=self.activations, transient=self.transient,
                    optimizer_temporaries=self.optimizer_temporaries, ddp_buckets=self.ddp_buckets, ema=self.ema,
                    total=self.total, activations_by_part=dict(self.activations_by_part), setting=self.setting)


def config_amp(cfg: Config) -> str:
    """'fp16', 'bf16' or 'none', as the config's optim_wrapper trains."""
    wrapper = cfg.get('optim_wrapper', {})
    if wrapper.get('type') != 'AmpOptimWrapper':
        return 'none'
    return 'bf16' if str(wrapper.get('dtype', 'float16')) in ('bfloat16', 'torch.bfloat16') else 'fp16'


def crop_shape(cfg: Config, scope: str) -> Tuple[int, int]:
    """The training crop (H, W): the config's ``crop_size`` or data preprocessor size; for detection 800x1333."""
    size = cfg.get('crop_size') or cfg.model.get('data_preprocessor', {}).get('size')
    if size is not None:
        return tuple(int(s) for s in size)
    if scope == 'mmdet':
        return DETECTION_SHAPE
    raise InputError(f'{cfg.filename} sets no crop_size: give --shape H W')


def resolve_setting(cfg: Config, setting: Setting) -> Setting:
    """The setting with every None filled in from the config; InputError for values that cannot work."""
    scope = task_scope(cfg)
    backbone = cfg.model.backbone
    if backbone.get('type') not in ('MambaVision', 'MM_mamba_vision'):
        raise InputError(f'{cfg.filename} has a {backbone.get("type")} backbone; the planner needs MambaVision')
    if setting.batch is not None and setting.batch < 1:
        raise InputError(f'the batch must be at least 1; got {setting.batch}')
    if setting.amp is not None and setting.amp not in AMP_CHOICES:
        raise InputError(f'unknown AMP setting {setting.amp!r}; choose one of {AMP_CHOICES}')
    if setting.scan_backend not in SCAN_STAND_INS:
        raise InputError(f'unknown scan backend {setting.scan_backend!r}; choose one of {tuple(SCAN_STAND_INS)}')
    if setting.frozen_stages is not None and setting.frozen_stages not in range(-1, 5):
        raise InputError(f'frozen stages must be in -1..4; got {setting.frozen_stages}')
    if setting.gpus < 1 or setting.num_gt < 1:
        raise InputError(f'--gpus and --num-gt must be at least 1; got {setting.gpus} and {setting.num_gt}')
    return Setting(batch=setting.batch or cfg.train_dataloader.batch_size,
                   amp=setting.amp or config_amp(cfg),
                   with_cp=bool(backbone.get('with_cp', False)) if setting.with_cp is None else setting.with_cp,
                   frozen_stages=backbone.get('frozen_stages', -1) if setting.frozen_stages is None
                   else setting.frozen_stages,
                   scan_backend=setting.scan_backend, shape=tuple(setting.shape or crop_shape(cfg, scope)),
                   num_gt=setting.num_gt, gpus=setting.gpus)


class _Parts:
    """Which part of the model runs: 'backbone stem', 'backbone stage k', 'neck', else 'heads and losses'."""

    def __init__(self, model: nn.Module):
        self.stack = []
        named = []
        backbone = model.backbone
        named.append(('backbone stem', backbone.patch_embed))
        for i, level in enumerate(backbone.levels):
            named.append((f'backbone stage {i + 1}', level))
            if hasattr(backbone, f'outnorm{i}'):
                named.append((f'backbone stage {i + 1}', getattr(backbone, f'outnorm{i}')))
        if getattr(model, 'neck', None) is not None:
            named.append(('neck', model.neck))
        self.handles = []
        for name, module in named:
            self.handles.append(module.register_forward_pre_hook(lambda m, args, name=name: self._enter(name)))
            self.handles.append(module.register_forward_hook(lambda m, args, out: self._leave(), always_call=True))

    def _enter(self, name: str) -> None:
        self.stack.append(name)

    def _leave(self) -> None:
        self.stack.pop()

    def __call__(self) -> str:
        return self.stack[-1] if self.stack else 'heads and losses'


def _fake_model(model: nn.Module, mode) -> None:
    """Replace every parameter and buffer by a fake tensor of its shape, dtype and trainability."""
    with mode:
        for module in model.modules():
            for name, param in list(module._parameters.items()):
                if param is not None:
                    fake = torch.zeros(param.shape, dtype=param.dtype, device='cpu')
                    module._parameters[name] = nn.Parameter(fake, requires_grad=param.requires_grad)
            for name, buffer in list(module._buffers.items()):
                if buffer is not None:
                    module._buffers[name] = torch.zeros(buffer.shape, dtype=buffer.dtype, device='cpu')


def _model_config(cfg: Config, setting: Setting) -> Config:
    cfg = copy.deepcopy(cfg)
    backbone = cfg.model.backbone
    backbone.update(with_cp=setting.with_cp, frozen_stages=setting.frozen_stages, init_cfg=None)
    backbone.pop('pretrained', None)
    return cfg


def _single_value_batch_norm_in_eval(norm: nn.Module) -> list:
    """Hooks running ``norm`` in eval mode on inputs of one value per channel (the pyramid pooling's 1x1 map at
    one image per GPU, which SyncBN normalises over all GPUs and plain BatchNorm refuses on one process); it
    saves the same input either way."""
    def before(module, args):
        module.single_value = module.training and args[0].numel() // args[0].shape[1] <= 1
        if module.single_value:
            module.eval()

    def after(module, args, out):
        if module.single_value:
            module.train()
    return [norm.register_forward_pre_hook(before), norm.register_forward_hook(after, always_call=True)]


def _training_step(model: nn.Module, cfg: Config, setting: Setting, fake: bool) -> Tuple[dict, int, int]:
    """Activations by part, the peak of the live bytes in forward and backward (the parameters' gradients start
    as None, as after mmengine's ``zero_grad``), and the gradients' bytes, from one forward and backward of a
    synthetic batch."""
    model.train()
    stand_in = SCAN_STAND_INS[setting.scan_backend]
    for module in model.modules():
        if isinstance(module, MambaVisionMixer) and stand_in is not None:
            module.scan_backend = stand_in
        elif isinstance(module, Attention):
            module.kernel = saving_attention
    held = [storage_key(t) for t in list(model.parameters()) + list(model.buffers())]
    parts = _Parts(model)
    saved = SavedTensorCount(held, parts)
    norm_hooks = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            norm_hooks += _single_value_batch_norm_in_eval(module)
    batch = synthetic_batch(task_scope(cfg), model, setting.shape, setting.batch, 'cpu', num_gt=setting.num_gt)
    # Half precision runs as bfloat16 on real CPU tensors (float16 kernels are slow there): the same bytes.
    amp_dtype = {'fp16': torch.float16 if fake else torch.bfloat16, 'bf16': torch.bfloat16}.get(setting.amp)
    live = LiveBytes(held)
    try:
        with HalfInFloat32() if amp_dtype and not fake else contextlib.nullcontext(), live:
            data = model.data_preprocessor(batch, True)
            with saved.hooks(), torch.autocast('cpu', dtype=amp_dtype or torch.bfloat16, enabled=bool(amp_dtype)):
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)  # as the model's train_step sums them
            loss.backward()
    finally:
        for handle in parts.handles + norm_hooks:
            handle.remove()
    gradients = sum(storage_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    return dict(saved.by_part), live.peak, gradients


def _optimizer_bytes(model: nn.Module, cfg: Config) -> Tuple[int, int]:
    """(state, step temporaries) of the config's optimizer, from one step on meta copies of the trainable
    parameters, grouped as the config's constructor groups them; foreach as on a GPU where it can."""
    mmengine_logger = MMLogger.get_current_instance()
    level = mmengine_logger.level
    mmengine_logger.setLevel(logging.ERROR)  # the constructor logs a line per parameter (and per frozen one)
    try:
        wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    finally:
        mmengine_logger.setLevel(level)
    optimizer = wrapper.optimizer
    groups = []
    for group in optimizer.param_groups:
        params = []
        for p in group['params']:
            if p.requires_grad:
                meta = torch.empty(p.shape, dtype=p.dtype, device='meta', requires_grad=True)
                meta.grad = torch.empty(p.shape, dtype=torch.float32, device='meta')
                params.append(meta)
        if params:
            groups.append({**{k: v for k, v in group.items() if k != 'params'}, 'params': params})
    if not groups:
        return 0, 0
    accepted = inspect.signature(type(optimizer).__init__).parameters
    defaults = {k: v for k, v in optimizer.defaults.items() if k in accepted}
    if 'foreach' in defaults and defaults['foreach'] is None:
        defaults['foreach'] = True
    meta_optimizer = type(optimizer)(groups, **defaults)
    held = [storage_key(p) for g in groups for p in g['params']] + \
        [storage_key(p.grad) for g in groups for p in g['params']]
    live = LiveBytes(held)
    with live:
        meta_optimizer.step()
    state = sum(storage_bytes(t) for s in meta_optimizer.state.values() for t in s.values()
                if isinstance(t, torch.Tensor) and t.device.type == 'meta')
    return state, max(live.peak - state, 0)


def _has_ema(cfg: Config) -> bool:
    return any(h.get('type') == 'EMAHook' for h in cfg.get('custom_hooks', []) or [])


def plan_memory(cfg: Config, setting: Setting = Setting()) -> MemoryPlan:
    """The memory plan of training ``cfg`` on one GPU with ``setting`` (see the module docstring)."""
    setting = resolve_setting(cfg, setting)
    model_cfg = _model_config(cfg, setting)
    with torch.device('meta'):
        model = build_model(model_cfg)
    if not isinstance(model.backbone, MambaVision):
        raise InputError(f'{cfg.filename} builds a {type(model.backbone).__name__} backbone; the planner needs '
                         'MambaVision')
    parameters = sum(storage_bytes(t) for t in list(model.parameters()) + list(model.buffers()))
    optimizer, temporaries = _optimizer_bytes(model, cfg)
    by_part, peak, gradients = _run_step(model_cfg, setting)
    activations = sum(by_part.values())
    ema = parameters if _has_ema(cfg) else 0
    return MemoryPlan(parameters=parameters, gradients=gradients, optimizer=optimizer, activations=activations,
                      transient=max(peak - activations, 0), optimizer_temporaries=temporaries,
                      ddp_buckets=gradients if setting.gpus > 1 else 0, ema=ema, activations_by_part=by_part,
                      setting=dict(batch=setting.batch, shape=list(setting.shape), amp=setting.amp,
                                   with_cp=setting.with_cp, frozen_stages=setting.frozen_stages,
                                   scan_backend=setting.scan_backend, gpus=setting.gpus,
                                   num_gt=setting.num_gt if task_scope(cfg) == 'mmdet' else None))


def _run_step(model_cfg: Config, setting: Setting):
    """One training step under fake tensors; for real on the CPU when the loss depends on the data."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv
    if task_scope(model_cfg) != 'mmdet':
        mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)
        with torch.device('meta'):
            model = build_model(model_cfg)
        _fake_model(model, mode)
        with mode:
            return _training_step(model, model_cfg, setting, fake=True)
    torch.manual_seed(0)
    model = build_model(model_cfg)
    return _training_step(model, model_cfg, setting, fake=False)
