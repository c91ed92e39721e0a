"""Selective scan (the S6 recurrence of Mamba) with interchangeable backends.

For every batch b, channel d and state n, with the sequence index t::

    delta_t = softplus(delta_t + delta_bias)            (when delta_softplus)
    h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t     = sum_n C_t * h_t + D * u_t

Shapes follow mamba-ssm: u, delta (B, D, L); A (D, N); B, C (B, N, L); D, delta_bias (D,).

Backends:
    ``'cuda'``      mamba-ssm's fused kernel (CUDA tensors, mamba-ssm installed).
    ``'triton'``    our Triton kernels (GPU tensors, triton installed; CPU tensors under ``TRITON_INTERPRET=1``).
    ``'torch'``     pure PyTorch, any device: a two-level chunked scan with about 2 * sqrt(L) sequential
                    steps; time and memory linear in L in forward and backward.
    ``'reference'`` a direct per-step loop, for tests and benchmarks only.
``'auto'`` picks ``'cuda'`` when it can run, else ``'triton'`` on CUDA tensors, else ``'torch'``. The
``MAMBAVISION_SCAN_BACKEND`` environment variable sets the default for calls that do not name a backend.

Compiled kernels can import and still fail when called (mamba-ssm built for another GPU or torch), so the first
use of ``'cuda'`` or ``'triton'`` on a device runs a tiny problem against the reference: ``'auto'`` moves on to
the next backend with a logged warning when it raises or disagrees, a backend named explicitly raises instead.
With ``torch.use_deterministic_algorithms(True)`` (mmengine's ``randomness.deterministic``), ``'auto'`` skips
mamba-ssm, whose backward adds with atomics, and the Triton backward sums without atomics.
"""
import importlib.util
import logging
import math
import os
from typing import Optional

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

BACKENDS = ('auto', 'cuda', 'triton', 'torch', 'reference')
ENV_VAR = 'MAMBAVISION_SCAN_BACKEND'
# mamba-ssm's backward sums the gradients of B and C over channels with atomic adds: run to run, the order differs.
NONDETERMINISTIC_BACKWARD = ('cuda',)
# What to do when a compiled backend fails its first call.
FIXES = {
    'cuda': 'rebuild mamba-ssm for this GPU and this torch (pip install --no-build-isolation --no-cache-dir '
            '--force-reinstall mamba-ssm), or set MAMBAVISION_SCAN_BACKEND=triton',
    'triton': 'install the triton release that this torch was built with (pip install --no-deps -r '
              'requirements/triton.txt), or set MAMBAVISION_SCAN_BACKEND=torch',
}
_logged_choices = set()
_logged_problems = set()
_first_call_problems = {}   # (backend, device) -> None when its first call matched the reference, else the error

try:
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _mamba_ssm_scan
except ImportError:  # mamba-ssm is optional
    _mamba_ssm_scan = None


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's CUDA selective-scan kernel can be imported."""
    return _mamba_ssm_scan is not None


def triton_available() -> bool:
    """Whether triton is installed (it is imported only when the ``'triton'`` backend runs)."""
    return importlib.util.find_spec('triton') is not None


def available_backends(device: torch.device) -> list:
    """The backends that can run on ``device`` (without an interpreter), portable ones first."""
    backends = ['torch', 'reference']
    if device.type == 'cuda':
        backends += ['triton'] * triton_available() + ['cuda'] * mamba_ssm_available()
    return backends


def _auto_candidates(device: torch.device) -> list:
    """The backends ``'auto'`` tries on ``device``, fastest first."""
    candidates = []
    if device.type == 'cuda':
        candidates += ['cuda'] * mamba_ssm_available() + ['triton'] * triton_available()
    return candidates + ['torch']


def first_call_problem(backend: str, device: torch.device) -> Optional[str]:
    """None when ``backend`` runs correctly on ``device``, else one line naming the error and the fix.

    ``'cuda'`` and ``'triton'`` are tried once per device on a tiny problem, values and gradients against the
    float64 reference; the portable backends are trusted. Not tried while a graph is traced or captured.
    """
    if backend not in FIXES or torch.compiler.is_compiling():
        return None
    if device.type == 'cuda' and torch.cuda.is_current_stream_capturing():
        return None
    key = (backend, str(device))
    if key not in _first_call_problems:
        _first_call_problems[key] = _try_first_call(backend, device)
    return _first_call_problems[key]


def _try_first_call(backend: str, device: torch.device) -> Optional[str]:
    g = torch.Generator().manual_seed(0)
    batch, channels, state, length = 1, 2, 4, 33
    inputs = dict(u=torch.randn(batch, channels, length, generator=g),
                  delta=torch.randn(batch, channels, length, generator=g),
                  A=-torch.rand(channels, state, generator=g) - 0.5,
                  B=torch.randn(batch, state, length, generator=g), C=torch.randn(batch, state, length, generator=g),
                  D=torch.randn(channels, generator=g), delta_bias=torch.randn(channels, generator=g))
    failed = f'selective-scan backend {backend!r} failed its first call on {device}'

    def run(impl, tensors):
        leaves = {k: v.requires_grad_() for k, v in tensors.items()}
        y = impl(**leaves, delta_softplus=True)
        y.backward(torch.ones_like(y))
        return [y.detach().double().cpu()] + [leaves[k].grad.double().cpu() for k in sorted(leaves)]

    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
        expected = run(_scan_reference, {k: v.double() for k, v in inputs.items()})
        try:
            got = run(_IMPLEMENTATIONS[backend], {k: v.to(device) for k, v in inputs.items()})
        except Exception as error:  # a kernel without an image for this GPU, an undefined symbol, ...
            message = str(error).strip().splitlines()[0] if str(error).strip() else ''
            return f'{failed}: {type(error).__name__}: {message}; fix: {FIXES[backend]}'
    names = ['y'] + [f'grad {k}' for k in sorted(inputs)]
    for name, value, reference in zip(names, got, expected):
        error = ((value - reference).abs().max() / reference.abs().max().clamp(min=1e-12)).item()
        if not error <= 1e-3:  # also catches NaN
            return f'{failed}: its {name} is off the reference by {error:.3g} (relative); fix: {FIXES[backend]}'
    return None


def resolve_backend(backend: Optional[str], device: torch.device) -> str:
    """Turn a requested backend (None, 'auto' or a name) into the one that will run on ``device``."""
    requested = backend or os.environ.get(ENV_VAR) or 'auto'
    if requested not in BACKENDS:
        source = 'argument' if backend else f'environment variable {ENV_VAR}'
        raise ValueError(f'unknown selective-scan backend {requested!r} (from the {source}); '
                         f'choose one of {BACKENDS}')
    deterministic = torch.are_deterministic_algorithms_enabled()
    reasons, level = [], logging.INFO
    if requested == 'auto':
        for candidate in _auto_candidates(device):
            if deterministic and candidate in NONDETERMINISTIC_BACKWARD:
                reasons.append(f'{candidate!r} skipped: deterministic algorithms are on and its backward is not')
                continue
            problem = first_call_problem(candidate, device)
            if problem is None:
                chosen = candidate
                break
            if problem not in _logged_problems:
                _logged_problems.add(problem)
                logger.warning('%s; falling back to the next backend', problem)
            reasons.append(f'{candidate!r} failed its first call')
    else:
        chosen = requested
        if chosen == 'cuda' and not mamba_ssm_available():
            raise RuntimeError("selective-scan backend 'cuda' needs mamba-ssm: pip install -e .[cuda]")
        if chosen == 'cuda' and device.type != 'cuda':
            raise RuntimeError(f"selective-scan backend 'cuda' needs CUDA tensors, got {device.type}")
        if chosen == 'triton' and not triton_available():
            raise RuntimeError("selective-scan backend 'triton' needs triton: pip install -e .[triton] "
                               "(CUDA builds of torch ship with it)")
        if chosen == 'triton' and device.type == 'cpu':
            from .scan_triton import check_device
            check_device(device)
        problem = first_call_problem(chosen, device)
        if problem is not None:
            raise RuntimeError(problem)
        if deterministic and chosen in NONDETERMINISTIC_BACKWARD:
            reasons.append('deterministic algorithms are on, but its backward is not: results vary run to run')
            level = logging.WARNING
    key = (requested, chosen, device.type, deterministic)
    if key not in _logged_choices:
        _logged_choices.add(key)
        logger.log(level, 'selective scan: using the %r backend on %s (requested: %r%s)', chosen, device.type,
                   requested, ''.join(f'; {reason}' for reason in reasons))
    return chosen


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


def _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus):
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


def _scan_triton(u, delta, A, B, C, D, delta_bias, delta_softplus):
    from .scan_triton import selective_scan_triton  # imports triton: only when this backend runs
    return selective_scan_triton(u, delta, A, B, C, D, delta_bias, delta_softplus)


_IMPLEMENTATIONS = {'cuda': _scan_cuda, 'triton': _scan_triton, 'torch': _scan_torch, 'reference': _scan_reference}


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
