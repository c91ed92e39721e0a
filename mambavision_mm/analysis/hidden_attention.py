"""The selective scan written as attention ("The Hidden Attention of Mamba Models", Ali, Zimerman and Wolf, 2024).

Unrolling the recurrence of :mod:`mambavision_backbone.scan` gives, for every batch b and channel d,
``y[t] = sum over s <= t of alpha[t, s] * u[s]`` with::

    alpha[t, s] = sum_n C[n, t] * exp(A[d, n] * (delta[s + 1] + ... + delta[t])) * delta[s] * B[n, s]
                  + D[d] * (s == t)

(delta after its bias and softplus). Only the rows asked for are built: a row costs (D, N, t + 1) numbers, the
full matrix of a 12,544-token window would not fit. Work in float64 for exact rows: the decay exponents are
differences of running sums, which lose digits in float32 on long sequences.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def hidden_attention_rows(delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                          rows: Sequence[int], D: Optional[torch.Tensor] = None,
                          delta_bias: Optional[torch.Tensor] = None, delta_softplus: bool = False) -> torch.Tensor:
    """Rows of the scan's attention matrix: (batch, len(rows), channels, L), zero for s > t.

    Arguments are the scan's (delta (B, D, L), A (D, N), B and C (B, N, L), D and delta_bias (D,)); applying
    row t to the scan's input u, ``(alpha[:, i] * u).sum(-1)``, gives the scan's output at t.
    """
    length = delta.shape[-1]
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    running = delta.cumsum(-1)                                                  # (B, D, L)
    out = delta.new_zeros(delta.shape[0], len(rows), delta.shape[1], length)
    for i, t in enumerate(rows):
        if not 0 <= t < length:
            raise IndexError(f'row {t} is outside the sequence of {length} tokens')
        elapsed = running[:, :, t:t + 1] - running[:, :, :t + 1]               # sum of delta over (s, t]
        decay = torch.exp(A[None, :, :, None] * elapsed[:, :, None, :])         # (B, D, N, t + 1)
        weights = torch.einsum('bn,bdns,bns->bds', C[:, :, t], decay, B[:, :, :t + 1])
        out[:, i, :, :t + 1] = weights * delta[:, :, :t + 1]
        if D is not None:
            out[:, i, :, t] += D
    return out
