"""Products against explicit products of the values the (mantissa, log-scale) pairs stand
for, and their autograd function against finite differences."""

from __future__ import annotations

import itertools

import torch

from pcdsl.codegen.kernels import products


def pair(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(*shape, dtype=torch.float64) + 0.1, torch.randn(*shape[:-1], dtype=torch.float64)


def value(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return h * torch.exp(s).unsqueeze(-1)


def test_hadamard_is_the_unit_wise_product():
    inputs = [pair(2, 3, 4) for _ in range(3)]
    h, s = products._hadamard(tuple(h for h, _ in inputs), tuple(s for _, s in inputs))
    expected = value(*inputs[0]) * value(*inputs[1]) * value(*inputs[2])
    assert torch.allclose(value(h, s), expected, rtol=1e-12)
    assert torch.allclose(h.amax(dim=-1), torch.ones(2, 3, dtype=torch.float64))


def test_kronecker_multiplies_one_unit_of_each_input_first_input_most_significant():
    (h0, s0), (h1, s1) = pair(2, 3, 2), pair(2, 3, 3)
    h, s = products._kronecker((h0, h1), (s0, s1))
    v0, v1, v = value(h0, s0), value(h1, s1), value(h, s)
    assert v.shape == (2, 3, 6)
    for i, j in itertools.product(range(2), range(3)):
        assert torch.allclose(v[..., i * 3 + j], v0[..., i] * v1[..., j], rtol=1e-12)


def test_hadamard_runs_equal_the_hadamard_of_the_runs():
    h, s = pair(3 * 4, 5, 2)
    out, scale = products._hadamard_runs(h.clone(), s, 3)
    runs = h.unflatten(0, (3, -1)).unbind(0)
    expected_h, expected_s = products._hadamard(runs, s.unflatten(0, (3, -1)).unbind(0))
    assert torch.allclose(value(out, scale), value(expected_h, expected_s), rtol=1e-12)


def test_hadamard_runs_gradient():
    h, s = pair(2 * 3, 4, 2)
    h.requires_grad_()

    def represented(h: torch.Tensor) -> torch.Tensor:
        return value(*products._HadamardRuns.apply(h, s, 2))

    assert torch.autograd.gradcheck(represented, (h,))
