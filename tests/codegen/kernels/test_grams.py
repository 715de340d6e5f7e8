"""Gram kernels, G[a, b] = sum_x a(x) b(x)^T, against explicit sums and integrals."""

from __future__ import annotations

import torch

from pcdsl.codegen.kernels import grams


def value(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return g * torch.exp(t)[..., None, None]


def test_input_grams_sum_over_the_values_or_read_the_observed_one():
    left, right = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 2, 4, dtype=torch.float64)
    whole = grams._gram_inputs(left, right, None, None, torch.tensor([0, 1]))
    expected = torch.exp(left) @ torch.exp(right).transpose(1, 2)  # (F, K, J)
    assert torch.allclose(value(*whole)[:, 0], expected, rtol=1e-12)
    x = torch.tensor([[2, 3]])
    observed = torch.tensor([[True, False]])
    g = value(*grams._gram_inputs(left, right, x, observed, torch.tensor([0, 1])))
    outer = torch.exp(left[0, :, 2]).unsqueeze(-1) * torch.exp(right[0, :, 2]).unsqueeze(0)
    assert torch.allclose(g[0, 0], outer, rtol=1e-12)
    assert torch.allclose(g[1, 0], expected[1], rtol=1e-12)  # variable 1 is unobserved


def test_gaussian_grams_integrate_the_product_of_densities():
    mean_l, std_l = torch.tensor([[0.3, -1.0]], dtype=torch.float64), torch.tensor([[0.7, 1.2]],
                                                                                dtype=torch.float64)
    mean_r, std_r = torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([[0.4]], dtype=torch.float64)
    g = value(*grams._gram_gaussians((mean_l, std_l), (mean_r, std_r), None, None, torch.tensor([0])))
    grid = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    density = torch.distributions.Normal(mean_l[0].unsqueeze(-1), std_l[0].unsqueeze(-1)).log_prob(grid)
    other = torch.distributions.Normal(mean_r[0], std_r[0]).log_prob(grid)
    integral = torch.trapezoid(torch.exp(density + other), grid)  # (K,)
    assert torch.allclose(g[0, 0, :, 0], integral, rtol=1e-8)


def test_product_grams_are_elementwise_and_kronecker_products():
    g, t = torch.rand(2, 1, 1, 2, 3, dtype=torch.float64), torch.randn(2, 1, 1, dtype=torch.float64)
    v = value(g, t)
    assert torch.allclose(value(*grams._gram_hadamard(g, t)), v[0] * v[1], rtol=1e-12)
    kron = value(*grams._gram_kronecker(g, t))
    assert torch.allclose(kron[0, 0], torch.kron(v[0, 0, 0], v[1, 0, 0]), rtol=1e-12)


def test_mixing_matrix_acts_as_the_mixing_sum():
    w = torch.rand(2, 3, 4, dtype=torch.float64)  # (F, K, A)
    inputs = torch.rand(2, 4, 3, dtype=torch.float64)  # (F, A, K)
    mixed = grams._mixing_matrix(w) @ inputs.flatten(1).unsqueeze(-1)  # (F, K, 1)
    assert torch.allclose(mixed.squeeze(-1), (w * inputs.transpose(1, 2)).sum(dim=-1))


def test_sum_grams_apply_the_weights_on_both_sides():
    g, t = torch.rand(4, 1, 1, 3, 3, dtype=torch.float64), torch.randn(4, 1, 1, dtype=torch.float64)
    left = torch.rand(1, 2, 6, dtype=torch.float64)
    right = torch.rand(1, 5, 6, dtype=torch.float64)
    out = value(*grams._gram_sum(g, t, (2, 2), left, right))
    v = value(g, t)
    blocks = torch.cat([torch.cat([v[0], v[1]], dim=-1), torch.cat([v[2], v[3]], dim=-1)], dim=-2)
    assert torch.allclose(out[0, 0], left[0] @ blocks[0, 0] @ right[0].T, rtol=1e-12)
