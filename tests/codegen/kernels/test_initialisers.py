"""Initialisers: reproducible draws with the distributions they name."""

from __future__ import annotations

import pytest
import torch

from pcdsl.codegen.kernels import initialisers


def test_normal_and_uniform_draws_are_reproducible_and_in_range():
    first = initialisers._normal((1000,), 2.0, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(first, initialisers._normal((1000,), 2.0, 0.5, torch.Generator().manual_seed(1)))
    assert abs(first.mean().item() - 2.0) < 0.1 and abs(first.std().item() - 0.5) < 0.05
    uniform = initialisers._uniform((1000,), -1.0, 3.0, torch.Generator().manual_seed(1))
    assert uniform.min() >= -1.0 and uniform.max() < 3.0


def test_spaced_values_are_cell_centres():
    assert initialisers._spaced((2, 4), 0.0, 1.0).tolist() == [[0.125, 0.375, 0.625, 0.875]] * 2


@pytest.mark.parametrize("alpha", [0.3, 1.0, 5.0])
def test_dirichlet_rows_are_distributions_with_the_dirichlet_mean_and_variance(alpha):
    draws = initialisers._dirichlet((20000, 4), alpha, torch.Generator().manual_seed(0)).double()
    assert torch.allclose(draws.sum(dim=-1), torch.ones(20000, dtype=torch.float64), atol=1e-6)
    assert draws.min() > 0
    assert torch.allclose(draws.mean(dim=0), torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)
    variance = 0.25 * 0.75 / (4 * alpha + 1)
    assert abs(draws[:, 0].var().item() - variance) < 0.1 * variance
