"""Building blocks of MambaVision: stem, convolutional blocks, mixer, attention, the hybrid block, and the
windows the mixer stages run on."""
import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import selective_scan


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch per sample with probability ``drop_prob`` while training."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class PatchEmbed(nn.Module):
    """Stem: two stride-2 3x3 convolutions with BatchNorm and ReLU (total stride 4)."""

    def __init__(self, in_chans: int, in_dim: int, dim: int):
        super().__init__()
        self.conv_down = nn.Sequential(
            nn.Conv2d(in_chans, in_dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4),
            nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_down(x)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution that doubles the channels."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(x)


class ConvBlock(nn.Module):
    """Residual conv3x3-BN-GELU(tanh)-conv3x3-BN block of stages 1-2, with optional layer scale."""

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale: Optional[float] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim, eps=1e-5)
        self.act1 = nn.GELU(approximate='tanh')
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim, eps=1e-5)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim)) if layer_scale is not None else None
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + self.drop_path(y)


class ScanInputs(NamedTuple):
    """A mixer's selective-scan arguments (shapes as :mod:`.scan`) and its conv branch z (B, C/2, L)."""
    u: torch.Tensor
    delta: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    z: torch.Tensor


class MambaVisionMixer(nn.Module):
    """The MambaVision token mixer: a selective-scan branch and a symmetric gate-free conv branch.

    The input projection is split into halves x and z; each passes a non-causal depthwise Conv1d and
    SiLU; x goes through the selective scan, then both halves are concatenated and projected.
    """

    def __init__(self, d_model: int, d_state: int = 8, d_conv: int = 3, expand: int = 1,
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4,
                 scan_backend: Optional[str] = None):
        super().__init__()
        d_inner = expand * d_model
        self.d_half = d_inner // 2
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        self.in_proj = nn.Linear(d_model, d_inner, bias=False)
        self.x_proj = nn.Linear(self.d_half, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_half, bias=True)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self.conv1d_x = nn.Conv1d(self.d_half, self.d_half, d_conv, padding=d_conv // 2, groups=self.d_half,
                                  bias=False)
        self.conv1d_z = nn.Conv1d(self.d_half, self.d_half, d_conv, padding=d_conv // 2, groups=self.d_half,
                                  bias=False)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_half, 1))
        self.D = nn.Parameter(torch.ones(self.d_half))
        self.dt_range = (dt_min, dt_max, dt_init_floor)
        self.reset_dt_proj()

    @torch.no_grad()
    def reset_dt_proj(self) -> None:
        """Mamba's initialisation of dt_proj: softplus(bias) spans [dt_min, dt_max] log-uniformly."""
        dt_min, dt_max, dt_init_floor = self.dt_range
        std = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_half) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus

    def scan_inputs(self, tokens: torch.Tensor) -> ScanInputs:
        """What the mixer computes from (B, L, C) tokens before its scan: the scan's arguments and the conv
        branch (the hidden-attention analysis reads them; :meth:`forward` is exactly these plus the scan)."""
        xz = self.in_proj(tokens).transpose(1, 2)                         # (B, C, L)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d_x(x))
        z = F.silu(self.conv1d_z(z))
        dt, b, c = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        # dt_proj adds its bias here and the scan adds it again: the published checkpoints were trained so.
        delta = self.dt_proj(dt).transpose(1, 2)
        return ScanInputs(x, delta, -torch.exp(self.A_log), b.transpose(1, 2), c.transpose(1, 2), z)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        u, delta, A, B, C, z = self.scan_inputs(tokens)
        y = selective_scan(u, delta, A, B, C, self.D, delta_bias=self.dt_proj.bias, delta_softplus=True,
                           backend=self.scan_backend)
        return self.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))


class Attention(nn.Module):
    """Multi-head self-attention over the tokens of a window.

    ``kernel`` computes softmax(q k^T / sqrt(head_dim)) v: PyTorch's ``scaled_dot_product_attention``; an
    instance's may be replaced by a function of the same signature (the training-memory planner's stand-in).
    """

    kernel = staticmethod(F.scaled_dot_product_attention)

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of (B, L, C) tokens, each (B, heads, L, head_dim)."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def project(self, heads_out: torch.Tensor) -> torch.Tensor:
        """The output projection of the heads' (B, heads, L, head_dim) results -> (B, L, C)."""
        batch, _, length, _ = heads_out.shape
        return self.proj_drop(self.proj(heads_out.transpose(1, 2).reshape(batch, length, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.heads(x)
        return self.project(self.kernel(q, k, v, dropout_p=self.attn_drop if self.training else 0.0))


class Mlp(nn.Module):
    """fc1 -> GELU -> dropout -> fc2 -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class MambaVisionBlock(nn.Module):
    """Pre-norm residual block of stages 3-4: a mixer (MambaVision mixer or attention), then an MLP."""

    def __init__(self, dim: int, num_heads: int, use_attention: bool, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale: Optional[float] = None, scan_backend: Optional[str] = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if use_attention:
            self.mixer = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        else:
            self.mixer = MambaVisionMixer(dim, d_state=8, d_conv=3, expand=1, scan_backend=scan_backend)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        if layer_scale is not None:
            self.gamma_1 = nn.Parameter(layer_scale * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mixer(self.norm1(x))
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y)


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, C, H, W) with H, W multiples of the window -> (B * num_windows, window_size**2, C), row-major."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window_size, window_size, w // window_size, window_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window_size * window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, batch: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (B, C, H, W).

    The batch is given rather than inferred (view(-1, ...)): traced with symbolic sizes (ONNX export), the
    inferred size was an expression that holds only for one window per image.
    """
    c = windows.shape[-1]
    x = windows.view(batch, h // window_size, w // window_size, window_size, window_size, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, c, h, w)
