"""Sum layers: dense sums (matrix products), dense sums over input tables, mixing sums and
dense sums over the stacked units of several inputs."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.scales import _largest_unit, _log_factors, _returned

# The generated module defines its own (these serve tests).
_STRIDE = 3

# INLINED: from here on, this file is copied into every generated module.


def _dense_table(table: tuple[Tensor, ...], positions: Tensor,
                 weights: Tensor) -> tuple[Tensor, Tensor]:
    """Dense sums over input members ``positions``, for every value and the unobserved row
    at once: a table of (F * (V + 1), K_out) outputs and their log-scales."""
    inputs = table[0].view(-1, _STRIDE, table[0].shape[-1])[positions]  # (F, V + 1, K)
    outputs = torch.bmm(inputs, weights.transpose(1, 2))
    scales = table[1].view(-1, _STRIDE)[positions]
    return outputs.reshape(-1, outputs.shape[-1]), scales.reshape(-1)


def _dense(h: Tensor, s: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Dense sums: (F, B, K_in) -> (F, B, K_out) with normalised weights (F, K_out, K_in)."""
    return torch.bmm(h, weights.transpose(1, 2)), s


class _MixingSums(torch.autograd.Function):
    """Mixing sums of A inputs (F, B, K) at aligned scales (A, F, B, 1) with normalised
    weights (F, K, A), renormalised: (F, B, K) and the (F, B) logs of the factors taken
    out. One function, so that backward keeps only the inputs rather than a weighted copy
    of each, and the terms are added into one buffer."""

    @staticmethod
    def forward(ctx, *arguments: Tensor) -> tuple[Tensor, Tensor]:
        weights, scales, *hs = arguments  # all variadic: see _Rows.forward
        out = hs[0] * scales[0]
        out.mul_(weights[..., 0].unsqueeze(1))
        term = torch.empty_like(out) if len(hs) > 1 else None
        for a in range(1, len(hs)):
            torch.mul(hs[a], scales[a], out=term)
            out.add_(term.mul_(weights[..., a].unsqueeze(1)))
        largest = _largest_unit(out)
        out.div_(largest)
        ctx.save_for_backward(weights, scales, largest, *hs)
        factors = _log_factors(largest)
        ctx.mark_non_differentiable(factors)
        return _returned(out), factors

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_factors: Tensor | None) -> tuple[Tensor | None, ...]:
        weights, scales, largest, *hs = ctx.saved_tensors
        grad = grad / largest
        grad_weights = torch.empty_like(weights)
        grad_hs = []
        for a, h_a in enumerate(hs):
            scaled = grad * scales[a]
            grad_weights[..., a] = (scaled * h_a).sum(dim=1)
            grad_hs.append(scaled.mul_(weights[..., a].unsqueeze(1)))
        return (grad_weights, None, *grad_hs)


def _mixing(
    hs: tuple[Tensor, ...], ss: tuple[Tensor, ...], weights: Tensor
) -> tuple[Tensor, Tensor]:
    """Mixing sums: A inputs of (F, B, K) -> (F, B, K), unit k a convex combination of unit k
    of the inputs, with normalised weights (F, K, A)."""
    with torch.no_grad():
        top = torch.stack(ss).amax(dim=0)
        scales = torch.exp(torch.stack(ss) - top).unsqueeze(-1)  # align to a common scale
    out, factors = _MixingSums.apply(weights, scales, *hs)
    return out, top + factors


def _aligned(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    """The A inputs brought to a common scale and concatenated: (F, B, A K) and (F, B)."""
    with torch.no_grad():
        top = torch.stack(ss).amax(dim=0)
    return torch.cat([h_a * torch.exp(s_a - top).unsqueeze(-1) for h_a, s_a in zip(hs, ss)],
                     dim=-1), top


def _stacked(hs: tuple[Tensor, ...], ss: tuple[Tensor, ...],
             weights: Tensor) -> tuple[Tensor, Tensor]:
    """Dense sums over the concatenated units of A inputs: (F, B, A K) -> (F, B, K_out),
    with normalised weights (F, K_out, A K)."""
    h, top = _aligned(hs, ss)
    return torch.bmm(h, weights.transpose(1, 2)), top
