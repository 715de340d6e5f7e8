"""Fused Triton kernels: on CUDA, one kernel where the torch kernels take several passes
over memory. Each is the fast path of a torch kernel of this package, which stays the
reference that tests compare it with (under Triton's interpreter, ``TRITON_INTERPRET=1``,
on a CPU) and the path on every other device.

They are off unless a module's ``FUSED_KERNELS`` is set to True: they have been checked
against the torch kernels under the interpreter, not yet timed on a GPU. Triton ships with
CUDA builds of torch; a module imports it only where CUDA is available, so that CPU users
pay nothing for it."""

from __future__ import annotations

import torch
from torch import Tensor

SIGNED_WEIGHTS: tuple[str, ...] = ()  # stand-in for the module's constant

# INLINED: from here on, this file is copied into every generated module.

if torch.cuda.is_available():
    try:
        import triton
        import triton.language as tl
    except Exception:  # no Triton, or one that cannot load: the torch kernels do everything
        triton = None
else:
    triton = None

# Set to True to run the fused kernels on CUDA tensors (off until timed on a GPU).
FUSED_KERNELS = False
# The largest units a fused kernel holds in one block of registers.
_FUSED_MAX_UNITS = 1024
# The largest output units of the fused dense sums: their (rows x units) block of
# products stays in registers while the input units stream through in chunks.
_FUSED_MAX_DENSE_UNITS = 256


def _fused(h: Tensor) -> bool:
    """Whether the fused kernels compute on ``h``: switched on, Triton there, ``h`` on CUDA."""
    return FUSED_KERNELS and triton is not None and h.is_cuda and h.shape[-1] <= _FUSED_MAX_UNITS


if triton is not None:
    @triton.jit
    def _hadamard_runs_kernel(h, s, out, largest_out, scale_out, F, B, K,
                              ARITY: tl.constexpr, MAGNITUDE: tl.constexpr,
                              BLOCK_B: tl.constexpr, BLOCK_K: tl.constexpr):
        # One program: BLOCK_B rows of member f. The product of the runs, its largest unit
        # and the renormalised product in one pass; the torch kernel makes five.
        f = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        units = tl.arange(0, BLOCK_K)
        in_rows = rows < B
        inside = in_rows[:, None] & (units[None, :] < K)
        at = f * B * K + rows[:, None] * K + units[None, :]
        product = tl.load(h + at, mask=inside, other=0.0)
        scale = tl.load(s + f * B + rows, mask=in_rows, other=0.0)
        for a in tl.static_range(1, ARITY):
            product = product * tl.load(h + a * F * B * K + at, mask=inside, other=0.0)
            scale = scale + tl.load(s + (a * F + f) * B + rows, mask=in_rows, other=0.0)
        if MAGNITUDE:
            largest = tl.max(tl.abs(product), axis=1)
        else:
            largest = tl.max(product, axis=1)
        largest = tl.where(largest > 0, largest, 1.0)  # a zero vector stays zero
        tl.store(out + at, product / largest[:, None], mask=inside)
        tl.store(largest_out + f * B + rows, largest, mask=in_rows)
        tl.store(scale_out + f * B + rows, scale + tl.log(largest), mask=in_rows)


    @triton.jit
    def _dense_runs_kernel(h, s, w, out, scale_out, F, B, K_IN, K_OUT,
                           ARITY: tl.constexpr, MAGNITUDE: tl.constexpr, PRECISION: tl.constexpr,
                           BLOCK_B: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_O: tl.constexpr):
        # One program: BLOCK_B rows of product member f. For each run a, the dense sums of
        # member a F + f (the input units in chunks of BLOCK_I), multiplied into the
        # product in registers: the sums are never written out. Then, as above, the
        # renormalised product and its scale (no backward needs the largest unit here).
        f = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        units_in = tl.arange(0, BLOCK_I)
        units_out = tl.arange(0, BLOCK_O)
        in_rows = rows < B
        out_units = units_out < K_OUT
        product = tl.full((BLOCK_B, BLOCK_O), 1.0, tl.float32)
        scale = tl.zeros((BLOCK_B,), tl.float32)
        for a in tl.static_range(ARITY):
            member = a * F + f
            sums = tl.zeros((BLOCK_B, BLOCK_O), tl.float32)
            for start in range(0, K_IN, BLOCK_I):
                ins = start + units_in
                x = tl.load(h + member * B * K_IN + rows[:, None] * K_IN + ins[None, :],
                            mask=in_rows[:, None] & (ins[None, :] < K_IN), other=0.0)
                # The weights transposed: (input units, output units).
                wt = tl.load(w + member * K_OUT * K_IN + units_out[None, :] * K_IN + ins[:, None],
                             mask=(ins[:, None] < K_IN) & out_units[None, :], other=0.0)
                sums = tl.dot(x, wt, sums, input_precision=PRECISION)
            product = product * sums
            scale = scale + tl.load(s + member * B + rows, mask=in_rows, other=0.0)
        inside = in_rows[:, None] & out_units[None, :]
        product = tl.where(inside, product, 0.0)
        if MAGNITUDE:
            largest = tl.max(tl.abs(product), axis=1)
        else:
            largest = tl.max(product, axis=1)
        largest = tl.where(largest > 0, largest, 1.0)  # a zero vector stays zero
        at = f * B * K_OUT + rows[:, None] * K_OUT + units_out[None, :]
        tl.store(out + at, product / largest[:, None], mask=inside)
        tl.store(scale_out + f * B + rows, scale + tl.log(largest), mask=in_rows)


def _fused_dense(h: Tensor, weights: Tensor) -> bool:
    """Whether ``_dense_runs`` takes the fused kernel: as ``_fused``, and no gradient
    wanted (it has no backward), float32 outside autocast (the torch path would compute in
    the autocast type), and output units that fit its block."""
    return (_fused(h) and not torch.is_grad_enabled() and h.dtype == torch.float32
            and weights.dtype == torch.float32 and not torch.is_autocast_enabled("cuda")
            and weights.shape[1] <= _FUSED_MAX_DENSE_UNITS)


def _fused_dense_runs(h: Tensor, s: Tensor, weights: Tensor,
                      arity: int) -> tuple[Tensor, Tensor]:
    """The Hadamard products of the ``arity`` runs of the dense sums (A F, B, K_in) ->
    (A F, B, K_out) with weights (A F, K_out, K_in), in one kernel: the renormalised
    products (F, B, K_out) and their log-scales (F, B). Matrix products in float32, or
    TF32 where torch's are (``--precision tf32``)."""
    h, s, weights = h.contiguous(), s.contiguous(), weights.contiguous()
    members, batch, units_in = h.shape[0] // arity, h.shape[1], h.shape[2]
    units_out = weights.shape[1]
    out = torch.empty((members, batch, units_out), dtype=h.dtype, device=h.device)
    scale = torch.empty((members, batch), dtype=s.dtype, device=s.device)
    block_out = max(16, triton.next_power_of_2(units_out))
    block_rows = 32 if block_out <= 128 else 16  # tl.dot takes blocks of 16 and more
    precision = "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    grid = (members, triton.cdiv(batch, block_rows))
    _dense_runs_kernel[grid](h, s, weights, out, scale, members, batch, units_in,
                             units_out, ARITY=arity, MAGNITUDE=bool(SIGNED_WEIGHTS),
                             PRECISION=precision, BLOCK_B=block_rows, BLOCK_I=32,
                             BLOCK_O=block_out)
    return out, scale


def _fused_hadamard_runs(h: Tensor, s: Tensor, arity: int) -> tuple[Tensor, Tensor, Tensor]:
    """``_HadamardRuns``' forward in one kernel: the renormalised products (F, B, K), the
    largest units (F, B, 1) they were divided by, and the scales (F, B)."""
    h, s = h.contiguous(), s.contiguous()
    members, batch, units = h.shape[0] // arity, h.shape[1], h.shape[2]
    out = torch.empty((members, batch, units), dtype=h.dtype, device=h.device)
    largest = torch.empty((members, batch, 1), dtype=h.dtype, device=h.device)
    scale = torch.empty((members, batch), dtype=s.dtype, device=s.device)
    block_units = triton.next_power_of_2(units)
    block_rows = max(1, min(64, 4096 // block_units))  # about 4096 values a program
    grid = (members, triton.cdiv(batch, block_rows))
    _hadamard_runs_kernel[grid](h, s, out, largest, scale, members, batch, units,
                                ARITY=arity, MAGNITUDE=bool(SIGNED_WEIGHTS),
                                BLOCK_B=block_rows, BLOCK_K=block_units)
    return out, largest, scale
