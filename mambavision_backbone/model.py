"""MambaVision backbone for dense prediction: multi-scale features at strides 4, 8, 16 and 32."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint

from .checkpoint import CHECKPOINT_ALLOW_LIST, load_pretrained
from .hub import require_checkpoint
from .layers import (
    ConvBlock,
    Downsample,
    LayerNorm2d,
    MambaVisionBlock,
    MambaVisionMixer,
    PatchEmbed,
    window_partition,
    window_reverse,
)
from .variants import ARCH_SETTINGS, ESSENTIAL_ARCH_KEYS, OPTIONAL_ARCH_KEYS, resolve_arch

_FROM_ARCH = object()  # marks an argument left to the arch's default (None is a real value for layer_scale)


def attention_block_indices(depth: int) -> range:
    """Indices of the blocks that use self-attention in a stage of ``depth`` blocks (the second half)."""
    return range(depth // 2 + 1, depth) if depth % 2 else range(depth // 2, depth)


class MambaVisionStage(nn.Module):
    """One stage: its blocks, then (stages 1-3) a downsampling convolution.

    Mixer stages zero-pad the map on the right and bottom to a multiple of the window once, run every
    block on the windows (padded tokens included, unmasked, as in the published model) and crop back.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, conv: bool, downsample: bool,
                 drop_path: Sequence[float], mlp_ratio: float = 4.0, qkv_bias: bool = True, drop: float = 0.0,
                 attn_drop: float = 0.0, layer_scale: Optional[float] = None,
                 layer_scale_conv: Optional[float] = None, with_cp: bool = False,
                 scan_backend: Optional[str] = None):
        super().__init__()
        self.conv = conv
        self.window_size = window_size
        self.with_cp = with_cp
        if conv:
            blocks = [ConvBlock(dim, drop_path=drop_path[i], layer_scale=layer_scale_conv) for i in range(depth)]
        else:
            attending = attention_block_indices(depth)
            blocks = [MambaVisionBlock(dim, num_heads, use_attention=i in attending, mlp_ratio=mlp_ratio,
                                       qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, drop_path=drop_path[i],
                                       layer_scale=layer_scale, scan_backend=scan_backend)
                      for i in range(depth)]
        self.blocks = nn.ModuleList(blocks)
        self.downsample = Downsample(dim) if downsample else None

    def _run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def forward(self, x: torch.Tensor):
        """Returns (the stage's feature map before downsampling, the input of the next stage)."""
        if self.conv:
            x = self._run_blocks(x)
        else:
            h, w = x.shape[-2:]
            ws = self.window_size
            x = F.pad(x, (0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
            hp, wp = x.shape[-2:]
            x = window_reverse(self._run_blocks(window_partition(x, ws)), ws, x.shape[0], hp, wp)
            x = x[:, :, :h, :w].contiguous()
        return x, (self.downsample(x) if self.downsample is not None else x)


class MambaVision(nn.Module):
    """MambaVision backbone returning one LayerNorm-ed (B, C_i, H_i, W_i) map per index in ``out_indices``.

    Args:
        arch: 't', 't2', 's', 'b', 'l', 'l2', 'l3' (or 'tiny', ..., 'large3'); a dict of dim, in_dim, depths,
            num_heads and window_size (optionally mlp_ratio, layer_scale); or None to give every
            hyper-parameter explicitly. Explicit arguments override the arch's.
        dim, in_dim, depths, num_heads, window_size, mlp_ratio, layer_scale: architecture; window_size
            is part of the model's behaviour (see :class:`MambaVisionStage`).
        layer_scale_conv: layer scale of the conv blocks (None in every published model).
        in_chans: input channels.
        out_indices: stages whose features are returned (0-3, strides 4, 8, 16, 32). Stages after the last one
            requested, and that stage's downsampling, are neither built nor run.
        drop_path_rate: stochastic depth, increasing linearly over all blocks up to this value.
        drop_rate: dropout after the MLP layers and the attention projection.
        attn_drop_rate: dropout on the attention weights (training only).
        frozen_stages: -1 freezes nothing, 0 the stem, i the stem and the first i stages (with their
            output norms); frozen parts stay in eval mode across ``train()``.
        norm_eval: keep every BatchNorm in eval mode while training.
        with_cp: gradient checkpointing for every block.
        pretrained: checkpoint path or URL, shorthand for ``init_cfg=dict(type='Pretrained', checkpoint=path)``.
        init_cfg: None or ``dict(type='Pretrained', checkpoint=path or URL[, prefix=...])``; loaded by
            :meth:`init_weights`, never in the constructor.
        scan_backend: selective-scan backend (see :mod:`mambavision_backbone.scan`).
    """

    checkpoint_allow_list = CHECKPOINT_ALLOW_LIST  # what init_weights lets a checkpoint hold

    def __init__(self, arch: Union[str, dict, None] = 'tiny', dim=_FROM_ARCH, in_dim=_FROM_ARCH, depths=_FROM_ARCH,
                 num_heads=_FROM_ARCH, window_size=_FROM_ARCH, mlp_ratio=_FROM_ARCH, layer_scale=_FROM_ARCH,
                 layer_scale_conv: Optional[float] = None, in_chans: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3), drop_path_rate: float = 0.2, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, qkv_bias: bool = True, frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None, scan_backend: Optional[str] = None):
        super().__init__()
        settings = resolve_arch(arch)
        given = dict(dim=dim, in_dim=in_dim, depths=depths, num_heads=num_heads, window_size=window_size,
                     mlp_ratio=mlp_ratio, layer_scale=layer_scale)
        settings.update({k: v for k, v in given.items() if v is not _FROM_ARCH})
        for key, default in OPTIONAL_ARCH_KEYS.items():
            settings.setdefault(key, default)
        missing = [k for k in ESSENTIAL_ARCH_KEYS if k not in settings]
        if missing:
            raise ValueError(f'MambaVision(arch=None) needs {missing}')
        self.arch_settings = settings
        dim, depths = int(settings['dim']), tuple(settings['depths'])
        num_heads, window_size = tuple(settings['num_heads']), tuple(settings['window_size'])
        self.dims = tuple(dim * 2 ** i for i in range(4))
        self._check_hyper_parameters(self.dims, depths, num_heads, window_size, out_indices, frozen_stages,
                                     drop_path_rate, drop_rate, attn_drop_rate)
        if pretrained is not None and init_cfg is not None:
            raise ValueError('give either pretrained or init_cfg, not both')
        if pretrained is not None:
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if init_cfg is not None and (not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained'
                                     or 'checkpoint' not in init_cfg):
            raise ValueError(f"init_cfg must be None or dict(type='Pretrained', checkpoint=PATH); got {init_cfg!r}")
        self.init_cfg = init_cfg
        self.in_chans = in_chans
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.patch_embed = PatchEmbed(in_chans, int(settings['in_dim']), dim)
        total = sum(depths)
        drop_path = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear, 0 to the rate
        self.levels = nn.ModuleList()
        last = max(self.out_indices)
        for i in range(last + 1):
            start = sum(depths[:i])
            self.levels.append(MambaVisionStage(
                self.dims[i], depths[i], num_heads[i], window_size[i], conv=i < 2, downsample=i < last,
                drop_path=drop_path[start:start + depths[i]], mlp_ratio=settings['mlp_ratio'], qkv_bias=qkv_bias,
                drop=drop_rate, attn_drop=attn_drop_rate, layer_scale=settings['layer_scale'],
                layer_scale_conv=layer_scale_conv, with_cp=with_cp, scan_backend=scan_backend))
        for i in self.out_indices:
            self.add_module(f'outnorm{i}', LayerNorm2d(self.dims[i]))
        self.apply(self._init_module)
        self._freeze_stages()

    @staticmethod
    def _check_hyper_parameters(dims, depths, num_heads, window_size, out_indices, frozen_stages,
                                drop_path_rate, drop_rate, attn_drop_rate) -> None:
        lengths = {'depths': len(depths), 'num_heads': len(num_heads), 'window_size': len(window_size)}
        if set(lengths.values()) != {4}:
            raise ValueError(f'depths, num_heads and window_size need one entry per stage (4); got {lengths}')
        if any(d < 1 for d in depths) or any(w < 1 for w in window_size) or any(h < 1 for h in num_heads):
            raise ValueError(f'depths, num_heads and window_size must be positive; got {depths}, {num_heads}, '
                             f'{window_size}')
        for i in (2, 3):
            if (dims[i] % num_heads[i]) or dims[i] % 2:
                raise ValueError(f'stage {i + 1} has {dims[i]} channels, which must be even and divisible by '
                                 f'its num_heads ({num_heads[i]})')
        if not out_indices or any(i not in range(4) for i in out_indices) or len(set(out_indices)) != len(out_indices):
            raise ValueError(f'out_indices must be distinct stage indices in 0..3; got {tuple(out_indices)}')
        if frozen_stages not in range(-1, 5):
            raise ValueError(f'frozen_stages must be in -1..4; got {frozen_stages}')
        for name, rate in (('drop_path_rate', drop_path_rate), ('drop_rate', drop_rate),
                           ('attn_drop_rate', attn_drop_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f'{name} must be in [0, 1); got {rate}')

    @staticmethod
    def _init_module(m: nn.Module) -> None:
        # Module.apply visits children first, so a mixer re-initialises its dt_proj after the Linear rule.
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, MambaVisionMixer):
            m.reset_dt_proj()

    def init_weights(self) -> None:
        """Load the checkpoint named by ``init_cfg`` / ``pretrained`` (if any)."""
        if self.init_cfg is None:
            return
        path = self.init_cfg['checkpoint']
        require_checkpoint(path, f'pretrained MambaVision checkpoint not found: {path}. Name the published ImageNet '
                                 'weights by URL (the shipped configs do; README, "Model zoo") or a local copy of '
                                 'them, or train from scratch with init_cfg=None (e.g. --cfg-options '
                                 'model.backbone.init_cfg=None).')
        load_pretrained(self, path, prefix=self.init_cfg.get('prefix'), allow_list=self.checkpoint_allow_list)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.patch_embed
        for i in range(min(self.frozen_stages, len(self.levels))):
            yield self.levels[i]
            if hasattr(self, f'outnorm{i}'):
                yield getattr(self, f'outnorm{i}')

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f'MambaVision expects a (B, {self.in_chans}, H, W) tensor; got {got}')
        if x.shape[1] != self.in_chans:
            raise ValueError(f'MambaVision expects {self.in_chans} input channels; got {x.shape[1]} '
                             f'(shape {tuple(x.shape)})')
        if not x.is_floating_point():
            raise ValueError(f'MambaVision expects a floating-point image tensor; got {x.dtype}')
        if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(f'MambaVision needs a non-empty batch and H, W >= 1; got shape {tuple(x.shape)}')

    def forward(self, x: torch.Tensor):
        self._check_input(x)
        x = self.patch_embed(x)
        outs = []
        for i, level in enumerate(self.levels):
            feature, x = level(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'outnorm{i}')(feature).contiguous())
        return tuple(outs)


# Variant knowledge read off a state dict (the checkpoint converter and PartialLoadHook use it), kept beside
# the variants as timm keeps checkpoint_filter_fn beside its models.
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
