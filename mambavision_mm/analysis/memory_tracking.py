"""Counting the memory of a training step without a GPU: bytes saved for backward, bytes alive at the peak, and
stand-ins for the GPU selective-scan kernels that save what those kernels save.

Storages are told apart by identity, so that views and tensors saved by several operations count once.
"""
import contextlib
import math
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Optional

import torch
from torch.fx.experimental.symbolic_shapes import is_concrete_int
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mambavision_backbone.scan_torch import selective_scan_torch

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


class SavedTensorCount:
    """Saved-tensor hooks that add up the bytes saved for backward, each storage once, the ``excluded`` ones
    (parameters, buffers) never, by the part of the model that was running (``part()`` names it)."""

    def __init__(self, excluded: Iterable[int], part: Callable[[], str]):
        self.excluded = set(excluded)
        self.part = part
        self.by_part: Dict[str, int] = defaultdict(int)
        self.active = False
        self._kept: Dict[int, torch.Tensor] = {}  # holds what was counted, so that no identity is reused

    def add(self, tensor: torch.Tensor) -> None:
        """Count ``tensor``'s storage as saved while the hooks are on (also for tensors that something other than
        autograd keeps for backward)."""
        key = storage_key(tensor)
        if not self.active or key in self.excluded or key in self._kept:
            return
        self._kept[key] = tensor
        self.by_part[self.part()] += storage_bytes(tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.add(tensor)
        return tensor

    @contextlib.contextmanager
    def hooks(self):
        """The context in which every tensor saved for backward is counted."""
        self.active = True
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor):
                yield self
        finally:
            self.active = False

    @property
    def total(self) -> int:
        return sum(self.by_part.values())


class LiveBytes(TorchDispatchMode):
    """The bytes of the storages that operations create and that are still alive, after every operation, and
    their peak; the ``excluded`` storages are not counted."""

    def __init__(self, excluded: Iterable[int] = ()):
        super().__init__()
        self.excluded = set(excluded)
        self._live: Dict[int, tuple] = {}
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                key = storage_key(tensor)
                if key not in self._live and key not in self.excluded:
                    size = storage_bytes(tensor)
                    self._live[key] = (StorageWeakRef(tensor.untyped_storage()), size)
                    self.current += size
        for key in [k for k, (ref, _) in self._live.items() if ref.expired()]:
            self.current -= self._live.pop(key)[1]
        self.peak = max(self.peak, self.current)
        return out


class _SavingScan(torch.autograd.Function):
    """y from the PyTorch scan, with the tensors a GPU kernel saves saved instead of the PyTorch scan's; the
    backward returns gradients of the inputs' shapes (zeros) as the kernel allocates them."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, extra_shape):
        with torch.no_grad():
            y = selective_scan_torch(u, delta, A, B, C, D, delta_bias, True)
        contiguous = [t.contiguous() for t in (u, delta, A, B, C)]
        states = u.new_empty(extra_shape, dtype=torch.float32)
        ctx.save_for_backward(*contiguous, D, delta_bias, states)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, delta, A, B, C, D, delta_bias, _ = ctx.saved_tensors
        grads = [torch.zeros_like(t) for t in (u, delta)] + [torch.zeros_like(t, dtype=torch.float32)
                                                             for t in (A, B, C)]
        return (*grads, None if D is None else torch.zeros_like(D),
                None if delta_bias is None else torch.zeros_like(delta_bias), None)


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


def tensors_bytes(tensors: List[torch.Tensor]) -> int:
    """The bytes of the distinct storages of ``tensors``."""
    return sum({storage_key(t): storage_bytes(t) for t in tensors}.values())
