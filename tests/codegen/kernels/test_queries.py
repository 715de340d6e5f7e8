"""Draws, argmax, the max-semiring steps and the choices of the downward pass, against
plain torch."""

from __future__ import annotations

import pytest
import torch

from pcdsl.codegen.kernels import inputs, queries


def test_draw_follows_the_probabilities():
    probabilities = torch.tensor([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]]).repeat(5000, 1)
    drawn = queries._draw(probabilities, torch.Generator().manual_seed(0))
    assert drawn[0::2].eq(1).all()
    assert drawn[1::2].ne(1).all()
    assert abs(drawn[1::2].eq(2).double().mean().item() - 0.8) < 0.02
    assert queries._draw(torch.zeros(0, 3), None).shape == (0,)


def test_draw_is_reproducible_with_a_generator():
    probabilities = torch.rand(100, 7)
    first = queries._draw(probabilities, torch.Generator().manual_seed(3))
    assert torch.equal(first, queries._draw(probabilities, torch.Generator().manual_seed(3)))


def test_argmax_takes_the_first_of_ties():
    assert queries._argmax(torch.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])).tolist() == [1, 0]


def test_check_signs_refuses_negative_weights(monkeypatch):
    monkeypatch.setattr(queries, "SIGNED_WEIGHTS", ("dense_3",))
    queries._check_signs({"dense_3": torch.ones(2)})
    with pytest.raises(ValueError, match="dense_3"):
        queries._check_signs({"dense_3": torch.tensor([1.0, -0.5])})


def test_max_dense_takes_the_largest_weighted_input_in_chunks():
    h, s = torch.rand(2, 50, 3), torch.randn(2, 50)
    w = torch.rand(2, 4, 3)
    out, t = queries._max_dense((h,), (s,), w)
    expected = (w.unsqueeze(1) * h.unsqueeze(2)).amax(dim=-1) * torch.exp(s).unsqueeze(-1)
    assert torch.allclose(out * torch.exp(t).unsqueeze(-1), expected)


def test_max_mixing_takes_the_largest_weighted_input_of_each_unit():
    hs = tuple(torch.rand(2, 5, 3) for _ in range(2))
    ss = tuple(torch.randn(2, 5) for _ in range(2))
    w = torch.rand(2, 3, 2)
    out, t = queries._max_mixing(hs, ss, w)
    terms = torch.stack([w[..., a].unsqueeze(1) * hs[a] * torch.exp(ss[a]).unsqueeze(-1)
                         for a in range(2)])
    assert torch.allclose(out * torch.exp(t).unsqueeze(-1), terms.amax(dim=0))


def test_table_inputs_best_state_and_choice(monkeypatch):
    monkeypatch.setattr(inputs, "NUM_VALUES", 3)
    monkeypatch.setattr(queries, "NUM_VALUES", 3)
    monkeypatch.setattr(queries, "_STRIDE", 4)
    probabilities = torch.softmax(torch.randn(2, 5, 3), dim=-1)  # (F, K, V)
    table = inputs._input_table(torch.log(probabilities))
    h, s = queries._TableInputs.best(table)
    assert torch.allclose(h[:, 0] * torch.exp(s), probabilities.amax(dim=-1), rtol=1e-5)
    member, unit = torch.tensor([0, 1, 1]), torch.tensor([4, 0, 2])
    chosen = queries._TableInputs.choose(table, member, unit, queries._argmax, True, None)
    assert chosen.tolist() == probabilities[member, unit].argmax(dim=-1).tolist()


def test_choose_mixing_picks_the_input_with_the_largest_weighted_value():
    member, column, unit = torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([1, 1])
    values = [(torch.tensor([[[1.0, 1.0], [1.0, 1.0]]]), torch.zeros(1, 2)),
              (torch.tensor([[[1.0, 0.5], [1.0, 1.0]]]), torch.tensor([[0.0, 3.0]]))]
    weights = torch.tensor([[[0.5, 0.5], [0.6, 0.4]]])  # (F, K, A)
    slot, chosen = queries._choose_mixing(values, weights, member, column, unit, queries._argmax, 2)
    assert slot.tolist() == [0, 1] and chosen.tolist() == [1, 1]


def test_discarded_keeps_nothing():
    queries._DISCARDED[3] = "output"
    assert 3 not in queries._DISCARDED
