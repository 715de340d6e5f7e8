"""Gaussian kernels against torch.distributions.Normal."""

from __future__ import annotations

import torch

from pcdsl.codegen.kernels import gaussian


def test_log_densities_are_the_normal_log_densities_and_zero_when_unobserved():
    mean, std = torch.randn(3, 2, dtype=torch.float64), torch.rand(3, 2, dtype=torch.float64) + 0.5
    x = torch.randn(4, 5, dtype=torch.float64)
    observed = torch.rand(4, 5) < 0.5
    variables, members = torch.tensor([4, 0]), torch.tensor([2, 1])
    log_densities = gaussian._gaussian_log_densities((mean, std), (x, observed), variables, members)
    for f, (v, m) in enumerate(zip(variables.tolist(), members.tolist())):
        expected = torch.distributions.Normal(mean[m], std[m]).log_prob(x[:, v].unsqueeze(-1))
        expected = torch.where(observed[:, v].unsqueeze(-1), expected, torch.zeros_like(expected))
        assert torch.allclose(log_densities[f], expected, rtol=1e-12)


def test_best_state_is_the_density_at_the_mean():
    mean, std = torch.randn(3, 2, dtype=torch.float64), torch.rand(3, 2, dtype=torch.float64) + 0.5
    h, s = gaussian._GaussianInputs.best((mean, std))
    peak = torch.distributions.Normal(mean, std).log_prob(mean)
    assert torch.allclose(torch.log(h[:, 0]) + s, peak, rtol=1e-12)
    member, unit = torch.tensor([2, 0]), torch.tensor([1, 1])
    chosen = gaussian._GaussianInputs.choose((mean, std), member, unit, None, True, None)
    assert torch.equal(chosen, mean[member, unit])
