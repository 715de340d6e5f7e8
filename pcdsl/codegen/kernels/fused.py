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
