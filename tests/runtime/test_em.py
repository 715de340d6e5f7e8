"""Mini-batch EM: the E-step's counts against exact counting, and full-batch EM's
guarantee that the log-likelihood never decreases."""

from __future__ import annotations

import pytest
import torch

from pcdsl.runtime.em import EMNotSupported, MiniBatchEM

CATEGORICAL = """
model m {
  data = image(height = 3, width = 3, values = 4)
  inputs = categorical(units = 3)
  layers = cp(units = 3)
}
"""
BINOMIAL_TUCKER = """
model m {
  data = image(height = 2, width = 3, values = 5)
  regions = quad_tree(splits = 2)
  inputs = binomial(units = 2)
  layers = tucker(units = 2)
}
"""
MIXING = """
model m {
  data = image(height = 3, width = 3, values = 3)
  regions = quad_graph
  inputs = categorical(units = 3)
  layers = cp_t(units = 3)
  mixing = dense
}
"""


def _data(module, rows: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(module.NUM_VALUES, (rows, module.NUM_VARIABLES), generator=generator)


@pytest.mark.parametrize("spec", [CATEGORICAL, BINOMIAL_TUCKER, MIXING])
def test_input_counts_are_exact_value_counts(build_module, spec):
    """Every induced tree holds one input unit per variable, so a variable's counts over
    its input units are the number of rows where it takes each value."""
    module = build_module(spec)
    circuit = module.Circuit(seed=1).double()
    x = _data(module, 40)
    counts, total, rows = MiniBatchEM(circuit).expected_counts(x)
    assert rows == 40
    assert torch.allclose(total, circuit(x).sum())
    for fold, name in module.INPUT_FOLDS.items():
        variables = getattr(circuit, f"variables_{fold}")
        per_value = counts[name].sum(1)  # (F, V): summed over units
        expected = torch.stack([torch.bincount(x[:, v], minlength=module.NUM_VALUES)
                                for v in variables.tolist()]).to(per_value.dtype)
        assert torch.allclose(per_value, expected, atol=1e-9), name


@pytest.mark.parametrize("spec", [CATEGORICAL, BINOMIAL_TUCKER, MIXING])
def test_full_batch_em_never_decreases_the_likelihood(build_module, spec):
    module = build_module(spec)
    circuit = module.Circuit(seed=2).double()
    x = _data(module, 64, seed=3)
    em = MiniBatchEM(circuit, step_size=1.0, pseudo_count=0.0)
    history = [em.step(x) for _ in range(12)]
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    assert history[-1] > history[0] + 1e-3  # and it does improve


def test_em_weights_stay_normalised_and_smoothed(build_module):
    module = build_module(CATEGORICAL)
    circuit = module.Circuit(seed=0).double()
    em = MiniBatchEM(circuit, step_size=0.5, pseudo_count=1.0, dataset_size=1000)
    for seed in range(3):
        em.step(_data(module, 16, seed))
    for name in module.EM_RULES:
        probabilities = getattr(circuit, name).softmax(-1)
        assert torch.allclose(probabilities.sum(-1), torch.ones(()).double())
        assert bool((probabilities > 0).all())  # the pseudo-count keeps every entry alive


def test_em_state_round_trips(build_module):
    module = build_module(CATEGORICAL)
    circuit = module.Circuit(seed=0)
    em = MiniBatchEM(circuit, step_size=0.3, pseudo_count=0.2, dataset_size=100)
    em.step(_data(module, 8))
    again = MiniBatchEM(circuit)
    again.load_state_dict(em.state_dict())
    assert again.steps == 1 and again.step_size == 0.3 and again.dataset_size == 100
    assert all(torch.equal(again.statistics[k], em.statistics[k]) for k in em.statistics)


def test_refuses_a_module_without_rules(build_module, monkeypatch):
    module = build_module(CATEGORICAL)
    monkeypatch.setattr(module, "EM_RULES", {})
    with pytest.raises(EMNotSupported, match="adam"):
        MiniBatchEM(module.Circuit(seed=0))


def test_rejects_bad_options(build_module):
    circuit = build_module(CATEGORICAL).Circuit(seed=0)
    for options in ({"step_size": 0.0}, {"step_size": 1.5}, {"pseudo_count": -1.0},
                    {"step_decay": 0.0}, {"dataset_size": 0}):
        with pytest.raises(ValueError):
            MiniBatchEM(circuit, **options)
