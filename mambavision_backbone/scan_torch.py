"""The selective scan in PyTorch: the chunked scan of the ``'torch'`` backend and the step-by-step reference.

See :mod:`mambavision_backbone.scan` for the recurrence, the shapes and how a backend is chosen.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F


def _sequential(initial: torch.Tensor, links: torch.Tensor, inputs: Optional[torch.Tensor], length: int,
                reverse: bool) -> torch.Tensor:
    """x[i] = inputs[i] + links[i] * x[i -/+ 1] along dim 0 (products only when ``inputs`` is None), from
    ``x[0] = initial`` (``x[length - 1]`` when ``reverse``); returns the (length, ...) stacked x.

    Eager, every step writes into one preallocated tensor. Traced (torch.compile, torch.export and so ONNX),
    the steps are collected and stacked once: a write into a slice becomes a copy of the whole tensor there.
    """
    order = range(length - 2, -1, -1) if reverse else range(1, length)
    if torch.compiler.is_compiling():
        xs = [initial]
        for i in order:
            step = links[i] * xs[-1]
            xs.append(step if inputs is None else inputs[i] + step)
        return torch.stack(xs[::-1] if reverse else xs)
    x = initial.new_empty((length, *initial.shape))
    x[length - 1 if reverse else 0] = initial
    for i in order:
        prev = x[i + 1] if reverse else x[i - 1]
        if inputs is None:
            torch.mul(links[i], prev, out=x[i])
        else:
            torch.addcmul(inputs[i], links[i], prev, out=x[i])
    return x


def _chunk_decays(a: torch.Tensor, reverse: bool, cumulative: bool) -> torch.Tensor:
    """decay[t]: the product of the links between the chunk's first position (in the scan's direction) and t.

    ``cumulative``: one cumulative product (on accelerators, where every launch counts), else a loop of
    products (on CPU, where torch.cumprod along the outer dimension is several times slower than the loop).
    """
    steps = a.shape[0]
    ones = torch.ones_like(a[0])
    if cumulative and steps > 1:
        if reverse:
            return torch.cat([a[1:].flip(0).cumprod(0).flip(0), ones[None]])
        return torch.cat([ones[None], a[1:].cumprod(0)])
    return _sequential(ones, a[1:] if reverse else a, None, steps, reverse)


def _chunked_recurrence(a: torch.Tensor, b: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Solve a first-order linear recurrence over a sequence stored in chunks, with about T + C sequential steps.

    ``a`` and ``b`` are contiguous (T, C, ...) tensors: sequence position l = c * T + t lives at [t, c].
    Forward:  h_l = a_l * h_{l-1} + b_l   (h_{-1} = 0).
    Reverse:  h_l = a_{l+1} * h_{l+1} + b_l   (h_L = 0; the transposed system, for the backward pass).
    Two levels: a scan inside every chunk at once (T - 1 steps, vectorised over the C chunks), the states
    entering each chunk (C - 1 steps), then one fix-up with each position's product of decays since its chunk's
    start. Every step is one fused multiply-add, and only products and sums of decays are formed: nothing is
    divided, so strong decay cannot overflow.
    """
    steps, chunks = a.shape[0], a.shape[1]
    first, last = (steps - 1, 0) if reverse else (0, steps - 1)
    h = _sequential(b[first], a[1:] if reverse else a, b, steps, reverse)
    decay = _chunk_decays(a, reverse, cumulative=a.device.type != 'cpu')
    # incoming[c]: the state that flows into chunk c from its neighbour, already multiplied by the link:
    # incoming[c] = carried[c] + carried_decay[c] * incoming[neighbour], with
    # carried[c] = link * h[last, neighbour] and carried_decay[c] = link * decay[last, neighbour].
    zero = torch.zeros_like(b[0, :1])
    if reverse:
        carried = torch.cat([a[0, 1:] * h[last, 1:], zero])
        carried_decay = torch.cat([a[0, 1:] * decay[last, 1:], zero])
    else:
        carried = torch.cat([zero, a[0, 1:] * h[last, :-1]])
        carried_decay = torch.cat([zero, a[0, 1:] * decay[last, :-1]])
    incoming = _sequential(zero[0], carried_decay, carried, chunks, reverse)
    return h.addcmul_(decay, incoming)


class _ChunkedScan(torch.autograd.Function):
    """y = sum_n C * h with h from :func:`_chunked_recurrence`, and its gradients; time and memory linear in L.

    The recurrence is linear in h, so the gradient g of the states solves the transposed system
    g_l = dL/dh_l + a_{l+1} * g_{l+1}, where dL/dh_l = dL/dy_l * C_l. Then dL/db_l = g_l,
    dL/da_l = g_l * h_{l-1} and dL/dC_l = sum_d dL/dy_l * h_l. The read-out is a batched matrix product
    forward (fast) and products and sums backward (batched outer products of (D, 1) x (1, N) are slow on CPU).
    """

    @staticmethod
    def forward(ctx, a, b, c):
        h = _chunked_recurrence(a, b)                       # (T, C, B, D, N)
        ctx.save_for_backward(a, h, c)
        return torch.matmul(h, c.unsqueeze(-1)).squeeze(-1)  # (T, C, B, D)

    @staticmethod
    def backward(ctx, grad_y):
        a, h, c = ctx.saved_tensors
        grad_y = grad_y.unsqueeze(-1)
        grad_c = (grad_y * h).sum(3)
        g = _chunked_recurrence(a, grad_y * c.unsqueeze(3), reverse=True)
        grad_a = torch.empty_like(a)
        torch.mul(g[1:], h[:-1], out=grad_a[1:])                  # h_{l-1} inside the chunk
        torch.mul(g[0, 1:], h[-1, :-1], out=grad_a[0, 1:])        # h_{l-1} at the end of the previous chunk
        grad_a[0, 0] = 0
        return grad_a, g, grad_c


def _to_chunks(x: torch.Tensor, steps: int, chunks: int) -> torch.Tensor:
    """(B, K, L) -> contiguous (T, C, B, K), zero-padded at the end of the sequence to C * T."""
    x = F.pad(x, (0, steps * chunks - x.shape[-1]))
    return x.unflatten(-1, (chunks, steps)).permute(3, 2, 0, 1).contiguous()


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


def selective_scan_torch(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The two-level chunked scan: about 2 * sqrt(L) sequential steps, time and memory linear in L."""
    out_dtype = u.dtype
    with torch.autocast(u.device.type, enabled=False):  # the recurrence and its read-out stay in fp32
        u, delta, A, D, dtype = _prepare(u, delta, A, D, delta_bias, delta_softplus)
        batch, channels, length = u.shape
        steps = math.isqrt(length - 1) + 1   # chunk length ceil(sqrt(L)): about 2 * sqrt(L) sequential steps
        chunks = -(-length // steps)
        # Padded positions have delta = 0: decay 1 and no input, after the real sequence, so they change nothing.
        delta_c = _to_chunks(delta, steps, chunks)                              # (T, C, B, D)
        a = (delta_c.unsqueeze(-1) * A).exp_()                                  # (T, C, B, D, N)
        b = (delta_c * _to_chunks(u, steps, chunks)).unsqueeze(-1) * _to_chunks(B.to(dtype), steps, chunks).unsqueeze(3)
        y = _ChunkedScan.apply(a, b, _to_chunks(C.to(dtype), steps, chunks))   # (T, C, B, D)
        y = y.permute(2, 3, 1, 0).reshape(batch, channels, steps * chunks)[..., :length]
        if D is not None:
            y = y + D[:, None] * u
    return y.to(out_dtype)


def selective_scan_reference(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The recurrence step by step, as written in :mod:`mambavision_backbone.scan`: for tests and benchmarks."""
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
