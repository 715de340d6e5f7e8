"""Input tables and the reads of their rows: the table against the softmax it stands for,
chunked against unchunked, lookups and fused sums against plain indexing and matrix
products, and the autograd functions against finite differences."""

from __future__ import annotations

import pytest
import torch

from pcdsl.codegen.kernels import inputs, rows, scales

F, K, V = 3, 4, 5


@pytest.fixture(autouse=True)
def values(monkeypatch):
    monkeypatch.setattr(inputs, "NUM_VALUES", V)


def represented(table: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The (F, V + 1, K) values a table's rows stand for."""
    return (table[0] * torch.exp(table[1]).unsqueeze(-1)).view(-1, V + 1, table[0].shape[-1])


@pytest.mark.parametrize("softmax", [True, False])
def test_table_rows_are_the_probabilities_then_ones(softmax):
    log_values = torch.randn(F, K, V, dtype=torch.float64)
    if not softmax:
        log_values = torch.log_softmax(log_values, dim=-1)
    table = inputs._TableRows.apply(log_values, softmax)
    expected = torch.softmax(log_values, dim=-1).transpose(1, 2)  # (F, V, K)
    assert torch.allclose(represented(table)[:, :V], expected, rtol=1e-12)
    assert torch.equal(represented(table)[:, V], torch.ones(F, K, dtype=torch.float64))
    assert torch.allclose(table[0].view(F, V + 1, K).amax(dim=-1),
                          torch.ones(F, V + 1, dtype=torch.float64))


def test_table_rows_chunked_equal_unchunked(monkeypatch):
    log_values = torch.randn(7, K, V)
    whole = inputs._TableRows.apply(log_values, True)
    monkeypatch.setattr(scales, "_CHUNK_BYTES", 1)  # one member per chunk
    chunked = inputs._TableRows.apply(log_values, True)
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])


def test_table_rows_recover_values_that_underflow():
    log_values = torch.full((1, 2, 3), -2000.0, dtype=torch.float64)
    log_values[0, :, 0] = 0.0  # value 0 likely, values 1 and 2 at e^-2000 under every unit
    table = inputs._TableRows.apply(log_values, False)
    rows_, top = table[0].view(1, 4, 2), table[1].view(1, 4)
    assert torch.allclose(top[0, 1:3], torch.tensor([-2000.0, -2000.0], dtype=torch.float64))
    assert torch.equal(rows_[0, 1:3], torch.ones(2, 2, dtype=torch.float64))


@pytest.mark.parametrize("softmax", [True, False])
def test_table_rows_gradient(softmax):
    log_values = torch.randn(2, 3, V, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: represented(inputs._TableRows.apply(x, softmax)), (log_values,))


def test_lookups_read_the_row_of_each_value_or_the_unobserved_row():
    table = inputs._input_table(torch.log_softmax(torch.randn(F, K, V, dtype=torch.float64), -1))
    x = torch.randint(V, (6, 2))
    observed = torch.rand(6, 2) < 0.5
    variables, offsets = torch.tensor([1, 0]), torch.tensor([2, 0]) * (V + 1)
    h, s = inputs._lookup(table, (x, observed), variables, offsets)  # (2, 6, K), (2, 6)
    values = represented(table)
    for f, (variable, member) in enumerate(zip(variables.tolist(), (2, 0))):
        for b in range(6):
            row = x[b, variable].item() if observed[b, variable] else V
            assert torch.allclose(h[f, b] * torch.exp(s[f, b]), values[member, row], rtol=1e-12)


def test_lookups_with_weights_are_dense_sums_and_with_arity_their_products():
    table = inputs._input_table(torch.log_softmax(torch.randn(F, K, V, dtype=torch.float64), -1))
    x = torch.randint(V, (6, 3))
    variables, offsets = torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 2, 0]) * (V + 1)
    w = torch.softmax(torch.randn(4, 2, K, dtype=torch.float64), dim=-1)
    plain, summed, product = inputs._lookups(
        table, (x, None), ((variables, offsets), (variables, offsets, w),
                           (variables, offsets, w, 2)))
    rows_ = plain[0] * torch.exp(plain[1]).unsqueeze(-1)  # (4, 6, K)
    sums = torch.bmm(rows_, w.transpose(1, 2))  # (4, 6, 2)
    assert torch.allclose(summed[0] * torch.exp(summed[1]).unsqueeze(-1), sums, rtol=1e-12)
    assert torch.allclose(product[0] * torch.exp(product[1]).unsqueeze(-1), sums[:2] * sums[2:],
                          rtol=1e-12)


def test_rows_gradient_through_fused_sums_and_products():
    source = torch.rand(10, K, dtype=torch.float64, requires_grad=True)
    index = torch.randint(10, (4 * 3,))  # 4 members (2 runs of 2) of a batch of 3
    w = torch.softmax(torch.randn(4, 2, K, dtype=torch.float64), dim=-1).requires_grad_()

    def represented(source: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        plain, summed, product, factor = rows._Rows.apply(source, (None, 1, 2), index, index,
                                                          index, None, w, w)
        return plain, summed, product * torch.exp(factor).unsqueeze(-1)

    assert torch.autograd.gradcheck(represented, (source, w))


def test_binomial_log_probs_are_the_binomial_distribution():
    logits = torch.randn(2, 3, dtype=torch.float64)
    log_probs = inputs._binomial_log_probs(logits)
    expected = torch.distributions.Binomial(V - 1, logits=logits.unsqueeze(-1)).log_prob(
        torch.arange(V, dtype=torch.float64))
    assert torch.allclose(log_probs, expected, rtol=1e-10)


def test_leaf_product_sums_log_values_of_several_variables():
    log_values = torch.log_softmax(torch.randn(F, K, V, dtype=torch.float64), -1) * 100
    table = inputs._input_table(log_values, keep_log=True)
    x = torch.randint(V, (4, 2))
    variables = torch.tensor([[0], [1]])  # one member, the product over variables 0 and 1
    offsets = torch.tensor([[0], [V + 1]])  # of members 0 and 1 of the table
    h, s = inputs._leaf_product(table, (x, None), variables, offsets)
    expected = log_values[0, :, x[:, 0]].t() + log_values[1, :, x[:, 1]].t()  # (B, K)
    assert torch.allclose(torch.log(h[0]) + s[0].unsqueeze(-1), expected, rtol=1e-12)
