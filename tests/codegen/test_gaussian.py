"""Gaussian inputs over real-valued images: densities that integrate to 1 (checked by
numerical integration), exact marginals, sampling and MAP, and float-only validation."""

from __future__ import annotations

import math

import pytest
import torch

from pcdsl.driver import compile_source
from tests.reference import assert_agrees_with_reference

TWO_PIXELS = """model m {
  data   = image(channels = 1, height = 1, width = 2, domain = real)
  inputs = gaussian(units = 3, mean = none(init = normal(std = 2.0)))
  layers = cp(units = 4)
  seed   = 3
}"""


def grid(low: float = -14.0, high: float = 14.0, points: int = 1401) -> torch.Tensor:
    return torch.linspace(low, high, points, dtype=torch.float64)


@pytest.fixture
def two_pixels(build_module):
    return build_module(TWO_PIXELS).Circuit().double()


def test_density_integrates_to_one(two_pixels):
    """A 1x1x2 image: the trapezoid rule over a fine grid integrates the density to 1."""
    axis = grid()
    step = (axis[1] - axis[0]).item()
    x = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        density = two_pixels(x).exp().view(len(axis), len(axis))
    integral = torch.trapezoid(torch.trapezoid(density, dx=step), dx=step).item()
    assert abs(integral - 1.0) < 1e-6
    assert density.max() > 0.05  # a proper, peaked density, not a flat one


def test_marginal_is_the_integral_over_the_unobserved_pixel(two_pixels):
    axis = grid()
    step = (axis[1] - axis[0]).item()
    for value in (-1.5, 0.0, 2.25):
        x = torch.stack([torch.full_like(axis, value), axis], dim=1)
        with torch.no_grad():
            integral = torch.trapezoid(two_pixels(x).exp(), dx=step)
            marginal = two_pixels.log_marginal(torch.tensor([[value, float("nan")]]),
                                               torch.tensor([True, False]))
        assert abs(marginal.exp().item() - integral.item()) < 1e-7
    assert abs(two_pixels.log_partition().item()) < 1e-12


@pytest.mark.parametrize("layers,regions", [("cp(units = 3)", "quad_graph"),
                                            ("tucker(units = 3)", "quad_tree(splits = 4)"),
                                            ("cp_t(units = 3)", "poon_domingos(delta = 1)")])
def test_forward_and_marginals_match_the_definitions(build_module, layers, regions):
    """Two channels per pixel: leaf products in log space, then sums and products."""
    text = f"""model m {{ data = image(channels = 2, height = 2, width = 2, domain = real)
        regions = {regions} inputs = gaussian(units = 3) layers = {layers}
        weights = softmax(init = normal(std = 2.0)) seed = 2 }}"""
    module = build_module(text)
    compiled = compile_source(text, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = torch.randn(10, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    observed = torch.rand(10, 8, generator=torch.Generator().manual_seed(1)) < 0.5
    assert_agrees_with_reference(compiled, circuit, x, observed)
    assert module.EM_RULES.keys().isdisjoint({"gaussian_0"})
    assert all(not name.startswith("gaussian") for name in module.EM_RULES)


def test_samples_follow_the_density(two_pixels):
    axis = grid()
    step = (axis[1] - axis[0]).item()
    x = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        density = two_pixels(x).exp().view(len(axis), len(axis))
    first = torch.trapezoid(density, dx=step)  # the marginal density of pixel 0
    mean = torch.trapezoid(first * axis, dx=step).item()
    variance = torch.trapezoid(first * (axis - mean) ** 2, dx=step).item()
    samples = two_pixels.sample(40000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (40000, 1, 1, 2) and samples.dtype == torch.float64
    assert abs(samples[:, 0, 0, 0].mean().item() - mean) < 4 * math.sqrt(variance / 40000) + 1e-3
    assert abs(samples[:, 0, 0, 0].var().item() / variance - 1) < 0.05


def test_map_completes_with_a_unit_mean(two_pixels):
    x = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    completed, value = two_pixels.map_complete(x, torch.tensor([True, False]))
    assert completed[0, 0] == 0.5
    means = two_pixels.gaussian_0_mean.detach().flatten()
    assert torch.isclose(completed[0, 1], means).any()
    with torch.no_grad():
        assert value.item() <= two_pixels(completed).item() + 1e-9


def test_float_data_and_sampling_conditionals(two_pixels):
    with pytest.raises(TypeError, match="floating-point"):
        two_pixels(torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        two_pixels(torch.tensor([[0.0, float("inf")]]))
    x = torch.tensor([[0.25, float("nan")]], dtype=torch.float64)
    completed = two_pixels.sample_conditional(x, torch.tensor([True, False]),
                                              generator=torch.Generator().manual_seed(0))
    assert completed[0, 0] == 0.25 and torch.isfinite(completed).all()
    assert torch.isfinite(two_pixels(torch.randn(3, 1, 1, 2).double())).all()  # image-shaped
