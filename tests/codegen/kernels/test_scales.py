"""The (mantissa, log-scale) scheme: renormalising keeps every value and makes each vector's
largest unit 1; chunks cover a range exactly."""

from __future__ import annotations

import math

import torch

from pcdsl.codegen.kernels import scales


def value(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return h * torch.exp(s).unsqueeze(-1)


def test_renormalise_keeps_the_values_and_makes_the_largest_unit_one():
    h = torch.rand(3, 5, 4, dtype=torch.float64) * 1e-30
    h[0, 0] = 0.0  # an all-zero vector stays zero
    s = torch.randn(3, 5, dtype=torch.float64)
    before = value(h, s)
    out, t = scales._renormalise(h.clone(), s)
    assert torch.allclose(value(out, t), before, rtol=1e-12, atol=0)
    assert torch.equal(out[0, 0], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(out[1:].amax(dim=-1), torch.ones(2, 5, dtype=torch.float64))


def test_largest_magnitude_reads_negative_units():
    h = torch.tensor([[-4.0, 1.0], [0.0, 0.0], [2.0, -0.5]])
    assert scales._largest_magnitude(h).squeeze(-1).tolist() == [4.0, 1.0, 2.0]
    assert scales._largest_unit(h).squeeze(-1).tolist() == [1.0, 1.0, 2.0]


def test_rescaled_log_values():
    log_values = torch.tensor([[-1000.0, -1001.0], [-math.inf, -math.inf]], dtype=torch.float64)
    h, s = scales._rescaled(log_values)
    assert s.tolist() == [-1000.0, 0.0]
    assert torch.allclose(torch.log(h[0]) + s[0], log_values[0])
    assert torch.equal(h[1], torch.zeros(2, dtype=torch.float64))


def test_chunks_cover_the_items_within_the_budget(monkeypatch):
    monkeypatch.setattr(scales, "_CHUNK_BYTES", 100)
    ranges = scales._chunks(23, 30, torch.device("cpu"))  # 3 items of 30 bytes per chunk
    assert ranges == [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 18), (18, 21), (21, 23)]
    assert scales._chunks(23, 10_000, torch.device("cpu"))[:2] == [(0, 1), (1, 2)]
    assert scales._chunks(23, 30, torch.device("meta")) == [(0, 23)]
    assert scales._chunks(0, 30, torch.device("cpu")) == []
