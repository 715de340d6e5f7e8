"""Sums against the mathematics in log space (logsumexp of log-weights and log-inputs) and
explicit weighted sums; their autograd function against finite differences."""

from __future__ import annotations

import torch

from pcdsl.codegen.kernels import sums


def pair(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(*shape, dtype=torch.float64) + 0.1, torch.randn(*shape[:-1], dtype=torch.float64)


def log_value(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return torch.log(h) + s.unsqueeze(-1)


def weights(*shape: int) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape, dtype=torch.float64), dim=-1)


def test_dense_is_logsumexp_of_log_weights_and_log_inputs():
    h, s = pair(2, 5, 3)
    w = weights(2, 4, 3)  # (F, K_out, K_in)
    out, t = sums._dense(h, s, w)
    expected = torch.logsumexp(torch.log(w).unsqueeze(1) + log_value(h, s).unsqueeze(2), dim=-1)
    assert torch.allclose(log_value(out, t), expected, rtol=1e-12)


def test_mixing_is_a_convex_combination_of_the_same_unit():
    inputs = [pair(2, 5, 3) for _ in range(3)]
    w = weights(2, 3, 3)  # (F, K, A)
    out, t = sums._mixing(tuple(h for h, _ in inputs), tuple(s for _, s in inputs), w)
    stacked = torch.stack([log_value(h, s) for h, s in inputs], dim=-1)  # (F, B, K, A)
    expected = torch.logsumexp(torch.log(w).unsqueeze(1) + stacked, dim=-1)
    assert torch.allclose(log_value(out, t), expected, rtol=1e-12)


def test_stacked_sums_read_the_concatenated_units():
    inputs = [pair(2, 5, 3) for _ in range(2)]
    w = weights(2, 4, 6)
    out, t = sums._stacked(tuple(h for h, _ in inputs), tuple(s for _, s in inputs), w)
    concatenated = torch.cat([log_value(h, s) for h, s in inputs], dim=-1)
    expected = torch.logsumexp(torch.log(w).unsqueeze(1) + concatenated.unsqueeze(2), dim=-1)
    assert torch.allclose(log_value(out, t), expected, rtol=1e-12)


def test_dense_table_sums_every_row_of_the_members_read(monkeypatch):
    monkeypatch.setattr(sums, "_STRIDE", 3)
    table = (torch.rand(4 * 3, 2, dtype=torch.float64), torch.randn(4 * 3, dtype=torch.float64))
    positions = torch.tensor([3, 1])
    w = weights(2, 5, 2)
    out, scales = sums._dense_table(table, positions, w)
    rows = table[0].view(4, 3, 2)[positions]  # (F, V + 1, K)
    assert torch.allclose(out.view(2, 3, 5), rows @ w.transpose(1, 2))
    assert torch.equal(scales, table[1].view(4, 3)[positions].reshape(-1))


def test_mixing_sums_gradient():
    hs = [torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    scales = torch.rand(3, 2, 3, 1, dtype=torch.float64)
    w = weights(2, 4, 3).requires_grad_()

    def represented(w: torch.Tensor, *hs: torch.Tensor) -> torch.Tensor:
        out, factors = sums._MixingSums.apply(w, scales, *hs)
        return out * torch.exp(factors).unsqueeze(-1)

    assert torch.autograd.gradcheck(represented, (w, *hs))
    expected = sum(w[..., a].unsqueeze(1) * scales[a] * hs[a] for a in range(3))
    assert torch.allclose(represented(w, *hs), expected, rtol=1e-12)
