"""Gaussian input units: their log-densities for a batch (they have no table), and how
sampling and MAP read, maximise and draw them."""

from __future__ import annotations

import torch
from torch import Tensor

from pcdsl.codegen.kernels.queries import _normal_like
from pcdsl.codegen.kernels.scales import _rescaled

# INLINED: from here on, this file is copied into every generated module.


_HALF_LOG_TWO_PI = 0.9189385332046727  # log(2 pi) / 2


def _gaussian_log_densities(parameters: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
                            variables: Tensor, members: Tensor) -> Tensor:
    """Log-densities of the batch's values under the gaussian units of ``members`` (any
    shape S) over ``variables`` (shape S): (*S, B, K); 0 where a variable is unobserved
    (a density integrates to 1)."""
    x, observed = data
    mean, std = parameters[0][members], parameters[1][members]  # (*S, K)
    values = x[:, variables].movedim(0, -1).unsqueeze(-1)  # (*S, B, 1)
    z = (values - mean.unsqueeze(-2)) / std.unsqueeze(-2)
    log_densities = -0.5 * z * z - torch.log(std).unsqueeze(-2) - _HALF_LOG_TWO_PI
    if observed is not None:
        seen = observed[:, variables].movedim(0, -1).unsqueeze(-1)
        log_densities = torch.where(seen, log_densities, torch.zeros_like(log_densities))
    return log_densities


def _gaussian_lookup(parameters: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
                     variables: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
    """Gaussian input units of ``members`` over ``variables`` (both (F,)) for a batch:
    their densities as (F, B, K) and (F, B), like ``_lookup``."""
    return _rescaled(_gaussian_log_densities(parameters, data, variables, members))


def _gaussian_leaf_product(parameters: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
                           variables: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
    """Products of gaussian units over several variables each, in log space, like
    ``_leaf_product``: ``variables`` and ``members`` are (A, F)."""
    return _rescaled(_gaussian_log_densities(parameters, data, variables, members).sum(dim=0))



class _GaussianInputs:
    """Sampling and MAP over an input fold of gaussian units, whose parameters are their
    (means, standard deviations), each (F, K)."""

    @staticmethod
    def read(parameters: tuple[Tensor, ...], data: tuple[Tensor, Tensor | None],
             variables: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        """Units of input members ``members`` (F,) over ``variables`` (F,) for a batch."""
        return _gaussian_lookup(parameters, data, variables, members)

    @staticmethod
    def best(parameters: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """Per member, each unit's largest density (at its mean), as (F, 1, K) rescaled to a
        largest unit of 1, and the (F, 1) log-scales (broadcast over a batch)."""
        peak = -torch.log(parameters[1]) - _HALF_LOG_TWO_PI  # (F, K)
        with torch.no_grad():
            top = peak.amax(dim=-1, keepdim=True)
        return torch.exp(peak - top).unsqueeze(1), top

    @staticmethod
    def choose(parameters: tuple[Tensor, ...], member: Tensor, unit: Tensor, choose,
               maximum: bool, generator: torch.Generator | None) -> Tensor:
        """The value of the variable of each active unit ``unit`` of member ``member``: its
        mean with ``maximum``, a normal draw otherwise."""
        mean = parameters[0][member, unit]
        std = parameters[1][member, unit]
        return mean if maximum else mean + std * _normal_like(mean, generator)
