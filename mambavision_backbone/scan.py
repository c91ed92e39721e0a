"""Selective scan (the S6 recurrence of Mamba) with interchangeable backends.

For every batch b, channel d and state n, with the sequence index t::

    delta_t = softplus(delta_t + delta_bias)            (when delta_softplus)
    h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t     = sum_n C_t * h_t + D * u_t

Shapes follow mamba-ssm: u, delta (B, D, L); A (D, N); B, C (B, N, L); D, delta_bias (D,).

Backends:
    ``'cuda'``      mamba-ssm's fused kernel (CUDA tensors, mamba-ssm installed).
    ``'torch'``     pure PyTorch, any device; time and memory linear in L in forward and backward.
    ``'reference'`` a direct per-step loop, for tests and benchmarks only.
``'auto'`` picks ``'cuda'`` when it can run, else ``'torch'``. The ``MAMBAVISION_SCAN_BACKEND``
environment variable sets the default for calls that do not name a backend.
"""
import logging
import os
from typing import Optional

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

BACKENDS = ('auto', 'cuda', 'torch', 'reference')
ENV_VAR = 'MAMBAVISION_SCAN_BACKEND'
_logged_choices = set()

try:
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _mamba_ssm_scan
except ImportError:  # mamba-ssm is optional
    _mamba_ssm_scan = None


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's CUDA selective-scan kernel can be imported."""
    return _mamba_ssm_scan is not None


def resolve_backend(backend: Optional[str], device: torch.device) -> str:
    """Turn a requested backend (None, 'auto' or a name) into the one that will run on ``device``."""
    requested = backend or os.environ.get(ENV_VAR) or 'auto'
    if requested not in BACKENDS:
        source = 'argument' if backend else f'environment variable {ENV_VAR}'
        raise ValueError(f'unknown selective-scan backend {requested!r} (from the {source}); '
                         f'choose one of {BACKENDS}')
    if requested == 'auto':
        chosen = 'cuda' if (mamba_ssm_available() and device.type == 'cuda') else 'torch'
    else:
        chosen = requested
        if chosen == 'cuda' and not mamba_ssm_available():
            raise RuntimeError("selective-scan backend 'cuda' needs mamba-ssm: pip install -e .[cuda]")
        if chosen == 'cuda' and device.type != 'cuda':
            raise RuntimeError(f"selective-scan backend 'cuda' needs CUDA tensors, got {device.type}")
    if (requested, chosen, device.type) not in _logged_choices:
        _logged_choices.add((requested, chosen, device.type))
        logger.info('selective scan: using the %r backend on %s (requested: %r)', chosen, device.type, requested)
    return chosen


def _linear_recurrence(a: torch.Tensor, b: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """Solve h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) along dim 0 of contiguous (L, ...) tensors.

    With ``transpose`` it solves the transposed system h_t = a_{t+1} * h_{t+1} + b_t (h_L = 0),
    which is what the backward pass needs.
    """
    h = torch.empty_like(b)
    h_steps, a_steps, b_steps = h.unbind(0), a.unbind(0), b.unbind(0)  # views made once, not per step
    last = len(h_steps) - 1
    if transpose:
        h_steps[last].copy_(b_steps[last])
        for t in range(last - 1, -1, -1):
            torch.addcmul(b_steps[t], a_steps[t + 1], h_steps[t + 1], out=h_steps[t])
    else:
        h_steps[0].copy_(b_steps[0])
        for t in range(1, last + 1):
            torch.addcmul(b_steps[t], a_steps[t], h_steps[t - 1], out=h_steps[t])
    return h


class _LinearRecurrence(torch.autograd.Function):
    """Autograd for :func:`_linear_recurrence`, with time and memory linear in L.

    The recurrence is linear in h, so the gradient g of the states solves the transposed system:
    g_t = grad_t + a_{t+1} * g_{t+1}. Then dL/db_t = g_t and dL/da_t = g_t * h_{t-1}.
    """

    @staticmethod
    def forward(ctx, a, b):
        h = _linear_recurrence(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h = ctx.saved_tensors
        g = _linear_recurrence(a, grad_h.contiguous(), transpose=True)
        grad_a = torch.zeros_like(a)
        torch.mul(g[1:], h[:-1], out=grad_a[1:])
        return grad_a, g


def _prepare(u, delta, A, D, delta_bias, delta_softplus):
    """Upcast to at least float32 and apply the delta bias and softplus."""
    dtype = torch.promote_types(u.dtype, torch.float32)
    u, delta, A = u.to(dtype), delta.to(dtype), A.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    D = None if D is None else D.to(dtype)
    return u, delta, A, D, dtype


def _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus):
    out_dtype = u.dtype
    u, delta, A, D, dtype = _prepare(u, delta, A, D, delta_bias, delta_softplus)
    # Sequence-first layout: every step of the recurrence reads and writes one contiguous slice.
    delta_l = delta.permute(2, 0, 1).contiguous()                      # (L, B, D)
    a = torch.exp(delta_l.unsqueeze(-1) * A)                           # (L, B, D, N)
    b = (delta_l * u.permute(2, 0, 1)).unsqueeze(-1) * B.to(dtype).permute(2, 0, 1).unsqueeze(2)
    h = _LinearRecurrence.apply(a, b.contiguous())                     # (L, B, D, N)
    y = torch.einsum('lbdn,bnl->bdl', h, C.to(dtype))
    if D is not None:
        y = y + D[:, None] * u
    return y.to(out_dtype)


def _scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus):
    out_dtype = u.dtype
    u, delta, A, D, dtype = _prepare(u, delta, A, D, delta_bias, delta_softplus)
    B, C = B.to(dtype), C.to(dtype)
    delta_a = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    delta_b_u = torch.einsum('bdl,bnl,bdl->bdln', delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = delta_a[:, :, t] * h + delta_b_u[:, :, t]
        ys.append(torch.einsum('bdn,bn->bd', h, C[:, :, t]))
    y = torch.stack(ys, dim=2)
    if D is not None:
        y = y + D[:, None] * u
    return y.to(out_dtype)


def _scan_cuda(u, delta, A, B, C, D, delta_bias, delta_softplus):
    return _mamba_ssm_scan(u.contiguous(), delta.contiguous(), A.float(), B.contiguous(), C.contiguous(),
                           None if D is None else D.float(), z=None,
                           delta_bias=None if delta_bias is None else delta_bias.float(),
                           delta_softplus=delta_softplus, return_last_state=False)


_IMPLEMENTATIONS = {'cuda': _scan_cuda, 'torch': _scan_torch, 'reference': _scan_reference}


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, delta_bias: Optional[torch.Tensor] = None,
                   delta_softplus: bool = False, backend: Optional[str] = None) -> torch.Tensor:
    """Run the selective scan; returns y of shape (B, D, L) in u's dtype. See the module docstring."""
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f'u and delta must both be (B, D, L); got {tuple(u.shape)} and {tuple(delta.shape)}')
    batch, channels, length = u.shape
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f'A must be (D={channels}, N); got {tuple(A.shape)}')
    for name, t in (('B', B), ('C', C)):
        if t.shape != (batch, A.shape[1], length):
            raise ValueError(f'{name} must be (B, N, L) = {(batch, A.shape[1], length)}; got {tuple(t.shape)}')
    if length == 0:
        return u.clone()
    impl = _IMPLEMENTATIONS[resolve_backend(backend, u.device)]
    return impl(u, delta, A, B, C, D, delta_bias, delta_softplus)
