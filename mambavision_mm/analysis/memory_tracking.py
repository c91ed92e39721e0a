"""Counting the memory of a training step without a GPU: bytes saved for backward, bytes alive at the peak, and
stand-ins for the GPU selective-scan and attention kernels that save what those kernels save without computing.

Storages are told apart by identity, so that views and tensors saved by several operations count once.
"""
import math
import weakref
from collections import defaultdict
from typing import Callable, Dict, Iterable, Optional

import torch
from torch.fx.experimental.symbolic_shapes import is_concrete_int
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

# mamba-ssm's forward kernel keeps one state per chunk of 2048 tokens (kChunkSize of selective_scan_fwd_kernel).
MAMBA_SSM_CHUNK = 2048


def storage_key(tensor: torch.Tensor) -> int:
    """The identity of the storage behind ``tensor`` (shared by its views)."""
    return tensor.untyped_storage()._cdata


def storage_bytes(tensor: torch.Tensor) -> int:
    """The bytes of ``tensor``'s storage; 0 for a fake tensor whose size depends on the data (an accuracy's
    masked labels: small, and not saved for backward)."""
    size = tensor.untyped_storage().nbytes()
    return size if is_concrete_int(size) else 0


class _Storages:
    """The live storages among tensors handed to :meth:`add`, by identity, with their bytes: a storage leaves
    when the last of its tensors dies (a tensor's weak reference fires only when the tensor itself is freed,
    not when Python drops its name while autograd still holds it)."""

    def __init__(self, excluded: Iterable[int]):
        self.excluded = set(excluded)
        self._live: Dict[int, list] = {}  # key -> [bytes, tensors alive]
        self.current = 0

    def add(self, tensor: torch.Tensor) -> int:
        """Track ``tensor``; the bytes its storage adds (0 when excluded or already tracked)."""
        key = storage_key(tensor)
        if key in self.excluded:
            return 0
        entry = self._live.get(key)
        added = 0
        if entry is None:
            added = storage_bytes(tensor)
            entry = self._live[key] = [added, 0]
            self.current += added
        entry[1] += 1
        weakref.finalize(tensor, self._release, key)
        return added

    def _release(self, key: int) -> None:
        entry = self._live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._live[key]


class SavedTensorCount:
    """Saved-tensor hooks that add up the bytes saved for backward, each storage once, the ``excluded`` ones
    (parameters, buffers) never, by the part of the model that was running (``part()`` names it)."""

    def __init__(self, excluded: Iterable[int], part: Callable[[], str]):
        self._storages = _Storages(excluded)
        self.part = part
        self.by_part: Dict[str, int] = defaultdict(int)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.by_part[self.part()] += self._storages.add(tensor)
        return tensor

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        """The context in which every tensor saved for backward is counted."""
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    @property
    def total(self) -> int:
        return sum(self.by_part.values())


class LiveBytes(TorchDispatchMode):
    """The bytes of the storages that operations create and that are still alive, after every operation, and
    their peak; the ``excluded`` storages are not counted."""

    def __init__(self, excluded: Iterable[int] = ()):
        super().__init__()
        self._storages = _Storages(excluded)
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                self._storages.add(tensor)
        self.peak = max(self.peak, self._storages.current)
        return out


class _SavingScan(torch.autograd.Function):
    """Saves the tensors a GPU scan kernel saves; y is u (the planner needs shapes, not values, and a real step
    on the CPU should not pay for the scan); the backward returns gradients of the inputs' shapes (zeros), as
    the kernel allocates them."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, extra_shape):
        contiguous = [t.contiguous() for t in (u, delta, A, B, C)]
        states = u.new_empty(extra_shape, dtype=torch.float32)
        ctx.save_for_backward(*contiguous, D, delta_bias, states)
        return u.clone()

    @staticmethod
    def backward(ctx, grad_y):
        u, delta, A, B, C, D, delta_bias, _ = ctx.saved_tensors
        grads = [torch.zeros_like(t) for t in (u, delta)] + [torch.zeros_like(t, dtype=torch.float32)
                                                             for t in (A, B, C)]
        return (*grads, None if D is None else torch.zeros_like(D),
                None if delta_bias is None else torch.zeros_like(delta_bias), None)


class _SavingAttention(torch.autograd.Function):
    """Saves what the GPU attention kernels (flash, memory-efficient) and PyTorch's CPU one save: q, k, v, the
    output and a float32 log-sum-exp per query and head, without computing the L x L weights (the output is v)."""

    @staticmethod
    def forward(ctx, q, k, v):
        out = v.clone()
        ctx.save_for_backward(q, k, v, out, q.new_empty(q.shape[:-1], dtype=torch.float32))
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors[:3]
        return torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)


def saving_attention(q, k, v, dropout_p=0.0):
    """A stand-in for ``scaled_dot_product_attention`` (:attr:`mambavision_backbone.layers.Attention.kernel`)."""
    return _SavingAttention.apply(q, k, v)


def mamba_ssm_saves(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The scan, saving what mamba-ssm's kernel saves: its inputs made contiguous and one float32 state
    (and its imaginary part's slot, 2N numbers) per channel and chunk of 2048 tokens."""
    batch, channels, length = u.shape
    shape = (batch, channels, math.ceil(length / MAMBA_SSM_CHUNK), 2 * A.shape[1])
    return _SavingScan.apply(u, delta, A, B, C, D, delta_bias, shape)


def triton_saves(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """The scan, saving what our Triton kernel saves: its contiguous inputs and one float32 state per channel and
    chunk (needs triton, which fixes the chunk length)."""
    from mambavision_backbone.scan_triton import block_sizes
    batch, channels, length = u.shape
    _, chunk = block_sizes(A.shape[1], length)
    return _SavingScan.apply(u, delta, A, B, C, D, delta_bias,
                             (batch, channels, math.ceil(length / chunk), A.shape[1]))


SCAN_STAND_INS: Dict[str, Optional[Callable]] = {'cuda': mamba_ssm_saves, 'triton': triton_saves, 'torch': None}


class HalfInFloat32(TorchDispatchMode):
    """Convolutions and matrix products of half-precision tensors computed in float32 and their results cast
    back: the same tensors, dtypes and bytes, at float32 speed on CPUs without native half-precision kernels
    (where bfloat16 convolutions are emulated, many times slower). Entered below :class:`LiveBytes`, whose
    counts then see only the half-precision results."""

    HALF = (torch.float16, torch.bfloat16)
    OPS = {torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default,
           torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
           torch.ops.aten.baddbmm.default}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in self.OPS:
            return func(*args, **kwargs)
        flat, spec = tree_flatten((args, kwargs))
        half = next((t.dtype for t in flat if isinstance(t, torch.Tensor) and t.dtype in self.HALF), None)
        if half is None:
            return func(*args, **kwargs)
        flat = [t.float() if isinstance(t, torch.Tensor) and t.dtype == half else t for t in flat]
        args, kwargs = tree_unflatten(flat, spec)
        out = func(*args, **kwargs)
        return tree_map(lambda t: t.to(half) if isinstance(t, torch.Tensor) and t.dtype == torch.float32 else t,
                        out)
