"""Product layers: Hadamard (unit-wise) products, of separate inputs or of consecutive runs of
one tensor, and Kronecker products."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.fused import _fused, _fused_dense, _fused_dense_runs, _fused_hadamard_runs
from pcdsl.codegen.kernels.scales import _largest_unit, _log_factors, _renormalise, _returned
from pcdsl.codegen.kernels.sums import _dense

# INLINED: from here on, this file is copied into every generated module.


def _hadamard(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    """Hadamard products: A >= 2 inputs of (F, B, K) -> (F, B, K), their unit-wise product."""
    out, s = hs[0] * hs[1], ss[0] + ss[1]
    for h_a, s_a in zip(hs[2:], ss[2:]):
        out, s = out * h_a, s + s_a
    return _renormalise(out, s)


class _HadamardRuns(torch.autograd.Function):
    """Hadamard products of the ``arity`` consecutive runs of rows of one tensor
    (A * F, B, K) -> (F, B, K), renormalised. One function, so that backward writes the
    gradient of every run straight into one buffer: no per-run views to concatenate."""

    @staticmethod
    def forward(ctx, h: Tensor, s: Tensor, arity: int) -> tuple[Tensor, Tensor]:
        if _fused(h):
            out, m, scale = _fused_hadamard_runs(h, s, arity)
        else:
            runs = h.unflatten(0, (arity, -1))
            out = runs[0] * runs[1]
            for a in range(2, arity):
                out.mul_(runs[a])
            m = _largest_unit(out)
            out.div_(m)
            scale = s.unflatten(0, (arity, -1)).sum(dim=0) + _log_factors(m)
        ctx.save_for_backward(h, m)
        ctx.arity = arity
        ctx.mark_non_differentiable(scale)
        return _returned(out), scale

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_scale: Tensor) -> tuple[Tensor, None, None]:
        h, m = ctx.saved_tensors
        runs = h.unflatten(0, (ctx.arity, -1))
        grad_h = torch.empty_like(h)
        grad_runs = grad_h.unflatten(0, (ctx.arity, -1))
        for a in range(ctx.arity):
            others = [runs[b] for b in range(ctx.arity) if b != a]
            torch.mul(grad, others[0], out=grad_runs[a])
            for other in others[1:]:
                grad_runs[a].mul_(other)
        # Divided in place (m broadcast over the runs): no batch-sized temporary.
        return grad_runs.div_(m).view_as(h), None, None


def _hadamard_runs(h: Tensor, s: Tensor, arity: int) -> tuple[Tensor, Tensor]:
    """Hadamard products of the ``arity`` consecutive runs of one fold's output."""
    return _HadamardRuns.apply(h, s, arity)


def _dense_runs(h: Tensor, s: Tensor, weights: Tensor, arity: int) -> tuple[Tensor, Tensor]:
    """Dense sums (A F, B, K_in) -> (A F, B, K_out), then the Hadamard products of their
    ``arity`` runs -> (F, B, K_out): a CP layer's sums and the products over them. On CUDA
    with the fused kernels on and no gradient wanted, one kernel that never writes the
    sums out; otherwise, and as the reference, the two torch kernels."""
    if _fused_dense(h, weights):
        return _fused_dense_runs(h, s, weights, arity)
    return _hadamard_runs(*_dense(h, s, weights), arity=arity)


def _kronecker(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    """Kronecker products: A inputs of (F, B, K) -> (F, B, K^A), every product of one unit
    per input; unit i_0 K^(A-1) + ... + i_(A-1) multiplies unit i_a of input a."""
    out, s = hs[0], ss[0]
    for h_a, s_a in zip(hs[1:], ss[1:]):
        out, s = (out.unsqueeze(-1) * h_a.unsqueeze(-2)).flatten(-2), s + s_a
    return _renormalise(out, s)
