"""Triton kernels of the selective scan (see :mod:`mambavision_backbone.scan` for the math and the shapes).

One program per (batch, channel) walks the sequence in chunks of ``BLOCK_L`` positions with all ``N`` states
of the channel in one (BLOCK_N, BLOCK_L) tile: inside a chunk the recurrence is a ``tl.associative_scan``
of affine maps (log2(BLOCK_L) parallel steps), and the state carried from chunk to chunk is the only
sequential dependency. Everything is computed in float32 whatever the input dtype.

Like mamba-ssm, the forward keeps no (B, D, N, L) states: it saves only the state entering every chunk
(B, D, L / BLOCK_L, N). The backward walks the chunks in reverse, recomputes each chunk's states from its
saved entry state, and scans the transposed recurrence of the state gradients with the same combine.
Gradients of B and C are summed over channels with atomic adds into float32 buffers, in an order that varies
from run to run; with ``torch.use_deterministic_algorithms(True)`` every program writes its own (N, L) share
instead, and torch sums the shares in a fixed order (D times the memory of dB and dC, no atomics). The
gradients of A, D and the delta bias are always written per program and summed over the batch by torch.

Triton is optional: this module is imported only when the ``'triton'`` backend is used. On CPU tensors the
kernels run under Triton's interpreter, which must be switched on (``TRITON_INTERPRET=1``) before triton
is first imported.
"""
import torch
import triton
import triton.language as tl

# Elements of one (BLOCK_N, BLOCK_L) float32 tile: 16 per thread with 4 warps, so several live tiles fit in
# registers. The chunk length is this divided by the padded state size (256 positions for N = 8).
_TILE_ELEMENTS = 2048
_NUM_WARPS = 4


def interpreter_enabled() -> bool:
    """Whether Triton's interpreter (``TRITON_INTERPRET=1``) was on when triton and these kernels were defined.

    Triton decorates its own standard library (``tl.zeros``, ...) when it is first imported, so the variable
    must be set before that, not only before this module is imported.
    """
    from triton.runtime.interpreter import InterpretedFunction
    return isinstance(tl.zeros, InterpretedFunction) and isinstance(_compose, InterpretedFunction)


@triton.jit
def _compose(a_first, b_first, a_second, b_second):
    """Affine maps h -> a * h + b: apply the first, then the second."""
    return a_first * a_second, a_second * b_first + b_second


@triton.jit
def _load_delta(delta_ptr, offsets, mask, bias, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Delta after the bias and softplus (0 where masked), and the pre-softplus value for the backward."""
    raw = tl.load(delta_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        raw = raw + bias
    delta = raw
    if SOFTPLUS:
        # torch.nn.functional.softplus with its default threshold of 20
        delta = tl.where(raw > 20.0, raw, tl.log(1.0 + tl.exp(raw)))
    return tl.where(mask, delta, 0.0), raw


@triton.jit
def _channel_setup(A_ptr, D_ptr, bias_ptr, chunk_states_ptr, channels, length, state_size, num_chunks,
                   HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's channel parameters and the offsets of its rows, of B/C's rows and of its chunk states."""
    batch = tl.program_id(0)
    channel = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < state_size
    # Padded states have A = 0 and B = 0: their decay is 1 and they stay 0.
    A = tl.load(A_ptr + channel * state_size + offs_n, mask=mask_n, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + channel).to(tl.float32) if HAS_BIAS else 0.0
    skip = tl.load(D_ptr + channel).to(tl.float32) if HAS_D else 0.0
    row = (batch * channels + channel).to(tl.int64) * length
    state_rows = (batch * state_size + offs_n).to(tl.int64) * length
    chunk_states = chunk_states_ptr + (batch * channels + channel).to(tl.int64) * num_chunks * state_size
    return channel, offs_n, mask_n, A, bias, skip, row, state_rows, chunk_states


@triton.jit
def _load_chunk(u_ptr, delta_ptr, B_ptr, C_ptr, row, state_rows, chunk, length, mask_n, bias,
                HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, BLOCK_L: tl.constexpr):
    """Positions, masks and float32 u, delta (and its pre-softplus value), B and C of one chunk."""
    pos = chunk * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_l = pos < length
    mask_nl = mask_n[:, None] & mask_l[None, :]
    u = tl.load(u_ptr + row + pos, mask=mask_l, other=0.0).to(tl.float32)
    delta, raw_delta = _load_delta(delta_ptr + row, pos, mask_l, bias, HAS_BIAS, SOFTPLUS)
    B = tl.load(B_ptr + state_rows[:, None] + pos[None, :], mask=mask_nl, other=0.0).to(tl.float32)
    C = tl.load(C_ptr + state_rows[:, None] + pos[None, :], mask=mask_nl, other=0.0).to(tl.float32)
    return pos, mask_l, mask_nl, u, delta, raw_delta, B, C


@triton.jit
def _scan_forward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, y_ptr, chunk_states_ptr,
                         channels, length, state_size, num_chunks,
                         HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                         BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    channel, offs_n, mask_n, A, bias, skip, row, state_rows, chunk_states = _channel_setup(
        A_ptr, D_ptr, bias_ptr, chunk_states_ptr, channels, length, state_size, num_chunks, HAS_D, HAS_BIAS, BLOCK_N)
    offs_l = tl.arange(0, BLOCK_L)
    h = tl.zeros((BLOCK_N,), tl.float32)
    for chunk in range(num_chunks):
        tl.store(chunk_states + chunk * state_size + offs_n, h, mask=mask_n)
        pos, mask_l, mask_nl, u, delta, _, B, C = _load_chunk(u_ptr, delta_ptr, B_ptr, C_ptr, row, state_rows, chunk,
                                                              length, mask_n, bias, HAS_BIAS, SOFTPLUS, BLOCK_L)
        # Positions past the end have delta = 0: decay 1, no input, so the last column is the carried state.
        a = tl.exp(A[:, None] * delta[None, :])
        b = B * (delta * u)[None, :]
        b = tl.where(offs_l[None, :] == 0, b + a * h[:, None], b)
        _, states = tl.associative_scan((a, b), 1, _compose)
        y = tl.sum(states * C, axis=0)
        if HAS_D:
            y += skip * u
        tl.store(y_ptr + row + pos, y.to(y_ptr.dtype.element_ty), mask=mask_l)
        h = tl.sum(tl.where(offs_l[None, :] == BLOCK_L - 1, states, 0.0), axis=1)


@triton.jit
def _scan_backward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, chunk_states_ptr, grad_y_ptr,
                          grad_u_ptr, grad_delta_ptr, grad_A_ptr, grad_B_ptr, grad_C_ptr, grad_D_ptr, grad_bias_ptr,
                          channels, length, state_size, num_chunks,
                          HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                          DETERMINISTIC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    channel, offs_n, mask_n, A, bias, skip, row, state_rows, chunk_states = _channel_setup(
        A_ptr, D_ptr, bias_ptr, chunk_states_ptr, channels, length, state_size, num_chunks, HAS_D, HAS_BIAS, BLOCK_N)
    offs_l = tl.arange(0, BLOCK_L)
    program = tl.program_id(0) * channels + channel
    # This program's own (N, L) share of dB and dC, when they are not added up with atomics.
    share_rows = (program * state_size + offs_n).to(tl.int64) * length
    # The state gradient g solves g_l = a_{l+1} * g_{l+1} + dy_l * C_l; `carry` is a_{l+1} * g_{l+1} flowing
    # into the last position of the chunk from the chunk after it.
    carry = tl.zeros((BLOCK_N,), tl.float32)
    grad_A = tl.zeros((BLOCK_N,), tl.float32)
    grad_D = 0.0
    grad_bias = 0.0
    for step in range(num_chunks):
        chunk = num_chunks - 1 - step
        pos, mask_l, mask_nl, u, delta, raw_delta, B, C = _load_chunk(
            u_ptr, delta_ptr, B_ptr, C_ptr, row, state_rows, chunk, length, mask_n, bias, HAS_BIAS, SOFTPLUS, BLOCK_L)
        grad_y = tl.load(grad_y_ptr + row + pos, mask=mask_l, other=0.0).to(tl.float32)

        # Recompute this chunk's states from the state saved at its entry.
        h_entry = tl.load(chunk_states + chunk * state_size + offs_n, mask=mask_n, other=0.0)
        a = tl.exp(A[:, None] * delta[None, :])
        input_term = B * (delta * u)[None, :]
        b = tl.where(offs_l[None, :] == 0, input_term + a * h_entry[:, None], input_term)
        _, states = tl.associative_scan((a, b), 1, _compose)

        # Transposed recurrence, right to left; its links are the decays one position later.
        next_delta, _ = _load_delta(delta_ptr + row, pos + 1, pos + 1 < length, bias, HAS_BIAS, SOFTPLUS)
        next_a = tl.exp(A[:, None] * next_delta[None, :])
        source = C * grad_y[None, :]
        source = tl.where(offs_l[None, :] == BLOCK_L - 1, source + carry[:, None], source)
        _, grad_states = tl.associative_scan((next_a, source), 1, _compose, reverse=True)
        carry = tl.sum(tl.where(offs_l[None, :] == 0, a * grad_states, 0.0), axis=1)

        # a_l * h_{l-1} = h_l - input_l: no division by the decay, which may underflow to 0.
        through_decay = grad_states * (states - input_term)
        grad_delta = tl.sum(grad_states * B * u[None, :] + through_decay * A[:, None], axis=0)
        grad_u = tl.sum(grad_states * B, axis=0) * delta
        grad_A += tl.sum(through_decay * delta[None, :], axis=1)
        if HAS_D:
            grad_u += skip * grad_y
            grad_D += tl.sum(grad_y * u, axis=0)
        if SOFTPLUS:
            grad_delta = tl.where(raw_delta > 20.0, grad_delta, grad_delta * tl.sigmoid(raw_delta))
        grad_delta = tl.where(mask_l, grad_delta, 0.0)
        if HAS_BIAS:
            grad_bias += tl.sum(grad_delta, axis=0)
        tl.store(grad_u_ptr + row + pos, grad_u.to(grad_u_ptr.dtype.element_ty), mask=mask_l)
        tl.store(grad_delta_ptr + row + pos, grad_delta.to(grad_delta_ptr.dtype.element_ty), mask=mask_l)
        grad_B = grad_states * (delta * u)[None, :]
        grad_C = states * grad_y[None, :]
        if DETERMINISTIC:
            tl.store(grad_B_ptr + share_rows[:, None] + pos[None, :], grad_B, mask=mask_nl)
            tl.store(grad_C_ptr + share_rows[:, None] + pos[None, :], grad_C, mask=mask_nl)
        else:
            tl.atomic_add(grad_B_ptr + state_rows[:, None] + pos[None, :], grad_B, mask=mask_nl)
            tl.atomic_add(grad_C_ptr + state_rows[:, None] + pos[None, :], grad_C, mask=mask_nl)
    tl.store(grad_A_ptr + program * state_size + offs_n, grad_A, mask=mask_n)
    if HAS_D:
        tl.store(grad_D_ptr + program, grad_D)
    if HAS_BIAS:
        tl.store(grad_bias_ptr + program, grad_bias)


def block_sizes(state_size: int, length: int):
    """(BLOCK_N, BLOCK_L) of the kernels: the state padded to a power of two, the sequence cut into chunks of
    BLOCK_L (the forward saves the state at the end of every chunk for the backward)."""
    block_n = triton.next_power_of_2(state_size)
    block_l = min(triton.next_power_of_2(length), max(16, _TILE_ELEMENTS // block_n))
    return block_n, max(16, block_l)


class SelectiveScanTriton(torch.autograd.Function):
    """The selective scan with Triton kernels: forward and backward, float32 inside, mamba-ssm's signature."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, delta_softplus):
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D = None if D is None else D.contiguous()
        delta_bias = None if delta_bias is None else delta_bias.contiguous()
        batch, channels, length = u.shape
        state_size = A.shape[1]
        block_n, block_l = block_sizes(state_size, length)
        num_chunks = triton.cdiv(length, block_l)
        y = torch.empty_like(u)
        chunk_states = u.new_empty(batch, channels, num_chunks, state_size, dtype=torch.float32)
        flags = dict(HAS_D=D is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
                     BLOCK_N=block_n, BLOCK_L=block_l, num_warps=_NUM_WARPS)
        # Absent D / bias: any tensor stands in for the pointer, the kernel never reads it.
        D_arg = u if D is None else D
        bias_arg = u if delta_bias is None else delta_bias
        _scan_forward_kernel[(batch, channels)](
            u, delta, A, B, C, D_arg, bias_arg, y, chunk_states, channels, length, state_size, num_chunks, **flags)
        ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, chunk_states)
        ctx.flags = flags
        ctx.num_chunks = num_chunks
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, delta, A, B, C, D, delta_bias, chunk_states = ctx.saved_tensors
        batch, channels, length = u.shape
        state_size = A.shape[1]
        grad_y = grad_y.contiguous()
        grad_u = torch.empty_like(u)
        grad_delta = torch.empty_like(delta)
        deterministic = torch.are_deterministic_algorithms_enabled()
        fp32 = dict(dtype=torch.float32, device=u.device)
        # Per program (batch, channel): the shares of dA, dD and d(delta bias); of dB and dC when deterministic.
        grad_A = torch.empty(batch, channels, state_size, **fp32)
        grad_D = torch.empty(batch, channels, **fp32)
        grad_bias = torch.empty(batch, channels, **fp32)
        if deterministic:
            grad_B = torch.empty(batch, channels, state_size, length, **fp32)
            grad_C = torch.empty(batch, channels, state_size, length, **fp32)
        else:
            grad_B = torch.zeros(B.shape, **fp32)
            grad_C = torch.zeros(C.shape, **fp32)
        D_arg = u if D is None else D
        bias_arg = u if delta_bias is None else delta_bias
        _scan_backward_kernel[(batch, channels)](
            u, delta, A, B, C, D_arg, bias_arg, chunk_states, grad_y,
            grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_bias,
            channels, length, state_size, ctx.num_chunks, DETERMINISTIC=deterministic, **ctx.flags)
        if deterministic:
            grad_B, grad_C = grad_B.sum(1), grad_C.sum(1)
        return (grad_u, grad_delta, grad_A.sum(0).to(A.dtype), grad_B.to(B.dtype), grad_C.to(C.dtype),
                None if D is None else grad_D.sum(0).to(D.dtype),
                None if delta_bias is None else grad_bias.sum(0).to(delta_bias.dtype), None)


def check_device(device: torch.device) -> None:
    """Raise when the kernels cannot run on ``device``: CPU tensors need Triton's interpreter."""
    if device.type == 'cpu' and not interpreter_enabled():
        raise RuntimeError("selective-scan backend 'triton' on CPU tensors runs only under Triton's interpreter: "
                           'set TRITON_INTERPRET=1 before Python starts, so that it is on when triton is first '
                           'imported (the interpreter is slow: for tests only)')


def selective_scan_triton(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """Selective scan on the Triton kernels; y has u's dtype. CPU tensors need ``TRITON_INTERPRET=1``."""
    check_device(u.device)
    return SelectiveScanTriton.apply(u, delta, A, B, C, D, delta_bias, delta_softplus)
