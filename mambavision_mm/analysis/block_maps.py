"""What one query token of stages 3 and 4 looks at, block by block, in a MambaVision backbone.

Every block of those stages mixes the tokens of one window (row-major, padded tokens included, as the
published model runs them). For a query pixel, each block's map is the query token's row over its window:

- self-attention blocks: softmax(q k^T / sqrt(head_dim)) recomputed from the block's own q and k (SDPA never
  holds the weights), per head and as the mean over heads;
- mixer blocks: the mean over the scanned channels of |alpha[t, s]|, the selective scan's hidden attention
  (:mod:`.hidden_attention`, D on the diagonal), from the block's own delta, A, B and C, in float64. The conv
  branch and the depthwise convolution before the scan also mix neighbours; they are not part of alpha.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from mambavision_backbone import MambaVision
from mambavision_backbone.layers import Attention

from .hidden_attention import hidden_attention_rows

MIXER_STAGES = (2, 3)


@dataclass
class QueryMap:
    """One block's map of the query token over its window.

    ``values`` is (window, window) on the window's token grid; ``per_head`` (heads, window, window) for
    attention blocks. ``origin`` is the window's top-left token and ``query`` the query's token on the stage's
    map, whose unpadded size is ``map_size``; ``stride`` is the stage's in input pixels.
    """

    block: str
    kind: str
    values: np.ndarray
    per_head: Optional[np.ndarray]
    stride: int
    window: int
    origin: Tuple[int, int]
    query: Tuple[int, int]
    map_size: Tuple[int, int]

    @property
    def padded(self) -> np.ndarray:
        """(window, window) booleans: the window's tokens that lie in the stage's zero padding."""
        rows = self.origin[0] + np.arange(self.window)
        cols = self.origin[1] + np.arange(self.window)
        return (rows[:, None] >= self.map_size[0]) | (cols[None, :] >= self.map_size[1])

    @property
    def padded_share(self) -> float:
        """The share of the map's total on padded tokens."""
        return float(self.values[self.padded].sum() / max(self.values.sum(), 1e-30))


def attention_rows(attention: Attention, tokens: torch.Tensor, rows) -> torch.Tensor:
    """The attention weights of the query ``rows`` of (B, L, C) tokens: (B, heads, len(rows), L), rows sum to 1."""
    q, k, _ = attention.heads(tokens)
    logits = q[:, :, list(rows)] @ k.transpose(-1, -2) * attention.head_dim ** -0.5
    return logits.softmax(dim=-1)


def mixer_rows(mixer: nn.Module, tokens: torch.Tensor, rows) -> torch.Tensor:
    """The mixer's hidden attention rows for (B, L, C) tokens, in float64: (B, len(rows), channels, L)."""
    u, delta, A, B, C, _ = (t.double() for t in mixer.scan_inputs(tokens))
    return hidden_attention_rows(delta, A, B, C, list(rows), D=mixer.D.double(),
                                 delta_bias=mixer.dt_proj.bias.double(), delta_softplus=True)


def _map_geometry(map_size, window, stride, point):
    """(window index in the image's windows, the query's token index in it, window origin, query token)."""
    row = min(int(point[0] // stride), map_size[0] - 1)
    col = min(int(point[1] // stride), map_size[1] - 1)
    per_row = -(-map_size[1] // window)
    index = (row // window) * per_row + col // window
    origin = (row // window * window, col // window * window)
    return index, (row % window) * window + col % window, origin, (row, col)


@torch.no_grad()
def query_maps(backbone: MambaVision, image: torch.Tensor, point: Tuple[float, float]) -> List[QueryMap]:
    """The map of every block of stages 3 and 4 for the query at ``point`` (y, x in the input's pixels) of a
    (1, 3, H, W) ``image``; the backbone runs once, in eval mode."""
    if not isinstance(backbone, MambaVision):
        raise TypeError(f'query maps need a MambaVision backbone; got {type(backbone).__name__}')
    stages = [i for i in MIXER_STAGES if i < len(backbone.levels)]
    map_sizes, block_inputs, handles = {}, {}, []
    for i in stages:
        stage = backbone.levels[i]
        handles.append(stage.register_forward_pre_hook(
            lambda module, args, i=i: map_sizes.__setitem__(i, tuple(args[0].shape[-2:]))))
        for j, block in enumerate(stage.blocks):
            handles.append(block.mixer.register_forward_hook(
                lambda module, args, out, key=(i, j): block_inputs.__setitem__(key, args[0])))
    was_training = backbone.training
    backbone.eval()
    try:
        backbone(image)
    finally:
        backbone.train(was_training)
        for handle in handles:
            handle.remove()

    maps = []
    for i in stages:
        stage, stride = backbone.levels[i], 2 ** (i + 2)
        window = stage.window_size
        index, token, origin, query = _map_geometry(map_sizes[i], window, stride, point)
        for j, block in enumerate(stage.blocks):
            tokens = block_inputs[(i, j)][index:index + 1]
            if isinstance(block.mixer, Attention):
                heads = attention_rows(block.mixer, tokens, [token])[0, :, 0].float()
                per_head = heads.reshape(-1, window, window).numpy()
                values, kind = per_head.mean(axis=0), 'attention'
            else:
                alpha = mixer_rows(block.mixer, tokens, [token])[0, 0]
                values, per_head, kind = alpha.abs().mean(dim=0).reshape(window, window).numpy(), None, 'mixer'
            maps.append(QueryMap(f'stage{i + 1}_block{j}', kind, values, per_head, stride, window, origin, query,
                                 map_sizes[i]))
    return maps

