"""Initial values of parameters, drawn on the CPU so that a seed gives the same values on
every device: normal, uniform, evenly spaced and Dirichlet draws."""

from __future__ import annotations

import torch
from torch import Tensor

# INLINED: from here on, this file is copied into every generated module.


def _normal(shape: tuple[int, ...], mean: float, std: float,
            generator: torch.Generator | None) -> Tensor:
    """Independent normal draws on the CPU (so a seed gives the same values everywhere)."""
    return torch.empty(shape).normal_(mean, std, generator=generator)


def _uniform(shape: tuple[int, ...], a: float, b: float,
             generator: torch.Generator | None) -> Tensor:
    """Independent uniform draws from [a, b), on the CPU."""
    return torch.empty(shape).uniform_(a, b, generator=generator)


def _spaced(shape: tuple[int, ...], a: float, b: float) -> Tensor:
    """Values evenly spaced over [a, b) along the last axis, at the centres of equal cells,
    the same in every row."""
    count = shape[-1]
    centres = a + (b - a) * (torch.arange(count, dtype=torch.float64) + 0.5) / count
    return centres.expand(shape)


def _dirichlet(shape: tuple[int, ...], alpha: float,
               generator: torch.Generator | None) -> Tensor:
    """Symmetric Dirichlet draws along the last axis, on the CPU: normalised gamma draws,
    by Marsaglia and Tsang's method (for alpha < 1, from alpha + 1 times U^(1/alpha))."""
    boost = alpha < 1.0
    d = (alpha + 1.0 if boost else alpha) - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    gamma = torch.empty(shape)
    pending = torch.ones(shape, dtype=torch.bool)
    while bool(pending.any()):
        z = torch.empty(shape).normal_(generator=generator)
        u = torch.empty(shape).uniform_(generator=generator)
        v = (1.0 + c * z) ** 3
        log_v = torch.log(v.clamp(min=1e-30))
        accept = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * log_v)
        take = pending & accept
        gamma[take] = (d * v)[take]
        pending &= ~accept
    if boost:
        gamma = gamma * torch.empty(shape).uniform_(generator=generator) ** (1.0 / alpha)
    gamma = gamma.clamp(min=torch.finfo(gamma.dtype).tiny)
    return gamma / gamma.sum(dim=-1, keepdim=True)
