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
import functools
import importlib.util
import logging
import os
from typing import Dict, Optional, Tuple

import torch

from .scan_torch import selective_scan_reference, selective_scan_torch

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
    return _first_call(backend, device)


@functools.lru_cache(maxsize=None)
def _first_call(backend: str, device: torch.device) -> Optional[str]:
    """The first call of ``backend`` on ``device`` against the reference (see :func:`first_call_problem`)."""
    inputs = random_scan_inputs(1, 2, 4, 33, dtype=torch.float32)
    failed = f'selective-scan backend {backend!r} failed its first call on {device}'
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
        expected = scan_with_gradients({k: v.double() for k, v in inputs.items()}, scan=selective_scan_reference,
                                       delta_softplus=True)
        try:
            got = scan_with_gradients({k: v.to(device) for k, v in inputs.items()}, scan=_IMPLEMENTATIONS[backend],
                                      delta_softplus=True)
        except Exception as error:  # a kernel without an image for this GPU, an undefined symbol, ...
            message = str(error).strip().splitlines()[0] if str(error).strip() else ''
            return f'{failed}: {type(error).__name__}: {message}; fix: {FIXES[backend]}'
    pairs = [('y', got[0], expected[0])] + [(f'grad {k}', got[1][k], expected[1][k]) for k in sorted(inputs)]
    for name, value, reference in pairs:
        error = relative_error(value.cpu(), reference)
        if not error <= 1e-3:  # also catches NaN
            return f'{failed}: its {name} is off the reference by {error:.3g} (relative); fix: {FIXES[backend]}'
    return None


_logged = set()  # a plain set, which torch.compile reads as a constant (it traces through lru_cache)


def _log_once(level: int, message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        logger.log(level, message)


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
            _log_once(logging.WARNING, f'{problem}; falling back to the next backend')
            reasons.append(f'{candidate!r} failed its first call')
    else:
        chosen = requested
        if chosen == 'cuda' and not mamba_ssm_available():
            raise RuntimeError("selective-scan backend 'cuda' needs mamba-ssm: pip install mamba-ssm "
                               "(the [cuda] extra)")
        if chosen == 'cuda' and device.type != 'cuda':
            raise RuntimeError(f"selective-scan backend 'cuda' needs CUDA tensors, got {device.type}")
        if chosen == 'triton' and not triton_available():
            raise RuntimeError("selective-scan backend 'triton' needs triton: pip install triton (the [triton] extra; "
                               "CUDA builds of torch ship with it)")
        if chosen == 'triton' and device.type == 'cpu':
            from .scan_triton import check_device
            check_device(device)
        problem = first_call_problem(chosen, device)
        if problem is not None:
            raise RuntimeError(problem)
        if deterministic and chosen in NONDETERMINISTIC_BACKWARD:
            reasons.append('deterministic algorithms are on, but its backward is not: results vary run to run')
            level = logging.WARNING
    _log_once(level, f'selective scan: using the {chosen!r} backend on {device.type} (requested: {requested!r}'
                     + ''.join(f'; {reason}' for reason in reasons) + ')')
    return chosen


def _scan_cuda(u, delta, A, B, C, D, delta_bias, delta_softplus):
    return _mamba_ssm_scan(u.contiguous(), delta.contiguous(), A.float(), B.contiguous(), C.contiguous(),
                           None if D is None else D.float(), z=None,
                           delta_bias=None if delta_bias is None else delta_bias.float(),
                           delta_softplus=delta_softplus, return_last_state=False)


def _scan_triton(u, delta, A, B, C, D, delta_bias, delta_softplus):
    from .scan_triton import selective_scan_triton  # imports triton: only when this backend runs
    return selective_scan_triton(u, delta, A, B, C, D, delta_bias, delta_softplus)


_IMPLEMENTATIONS = {'cuda': _scan_cuda, 'triton': _scan_triton, 'torch': selective_scan_torch,
                    'reference': selective_scan_reference}


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, delta_bias: Optional[torch.Tensor] = None,
                   delta_softplus: bool = False, backend=None) -> torch.Tensor:
    """Run the selective scan; returns y of shape (B, D, L) in u's dtype. See the module docstring.

    ``backend`` is a name (None: the environment's or ``'auto'``) or a function with the signature
    ``(u, delta, A, B, C, D, delta_bias, delta_softplus) -> y``, run as it is (the training-memory planner's
    stand-ins for GPU kernels).
    """
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
    impl = backend if callable(backend) else _IMPLEMENTATIONS[resolve_backend(backend, u.device)]
    return impl(u, delta, A, B, C, D, delta_bias, delta_softplus)


def random_scan_inputs(batch: int, channels: int, state: int, length: int, dtype: torch.dtype = torch.float64,
                       seed: int = 0) -> Dict[str, torch.Tensor]:
    """Random arguments of :func:`selective_scan` (u, delta, A, B, C, D, delta_bias) with A < 0, so that the
    states decay as in a trained model; float64 by default, for comparisons with the reference."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)
    return dict(u=randn(batch, channels, length), delta=randn(batch, channels, length),
                A=-torch.rand(channels, state, generator=g, dtype=dtype) * 4 - 0.1,
                B=randn(batch, state, length), C=randn(batch, state, length), D=randn(channels),
                delta_bias=randn(channels))


def scan_with_gradients(inputs: Dict[str, Optional[torch.Tensor]], grad_y: Optional[torch.Tensor] = None,
                        scan=None, **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """(y, the gradient of every input tensor) from one forward and one backward of ``grad_y`` (ones by
    default) through ``scan`` (:func:`selective_scan` by default, with ``kwargs``)."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items() if v is not None}
    y = (scan or selective_scan)(**{**inputs, **leaves}, **kwargs)
    y.backward(torch.ones_like(y) if grad_y is None else grad_y.to(y))
    return y.detach(), {k: v.grad for k, v in leaves.items()}


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """max |value - reference| / max |reference|, in float64 (NaN when ``value`` holds one)."""
    reference = reference.double()
    return ((value.double() - reference).abs().max() / reference.abs().max().clamp(min=1e-30)).item()
