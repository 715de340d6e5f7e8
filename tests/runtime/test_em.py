"""Mini-batch EM: the E-step's counts against exact counting, and full-batch EM's
guarantee that the log-likelihood never decreases."""

from __future__ import annotations

import io

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


def _reference_em(module, circuit, batches, step_size: float, pseudo_count: float,
                  dataset_size: int | None) -> dict[str, torch.Tensor]:
    """Stepwise EM written out with explicit running counts ``s`` per example (the module
    docstring's equations), applied to ``circuit``'s parameters in place; returns ``s``."""
    running: dict[str, torch.Tensor] = {}
    em = MiniBatchEM(circuit)  # for its E-step only
    for x in batches:
        counts, _, rows = em.expected_counts(x)
        scale = float(dataset_size or rows)
        for name, rule in module.EM_RULES.items():
            batch = counts[name].clamp_min(0) / rows
            s = running[name] = (batch if name not in running
                                 else (1 - step_size) * running[name] + step_size * batch)
            mass = scale * s.sum(-1)
            with torch.no_grad():
                if rule == "softmax":
                    n = s.shape[-1]
                    weights = (scale * s + pseudo_count / n) / (mass.unsqueeze(-1) + pseudo_count)
                    getattr(circuit, name).copy_(weights.log())
                else:
                    values = torch.arange(s.shape[-1], dtype=s.dtype)
                    mean = scale * (s * values).sum(-1) / (s.shape[-1] - 1)
                    getattr(circuit, name).copy_(torch.logit((mean + pseudo_count / 2)
                                                             / (mass + pseudo_count)))
    return running


@pytest.mark.parametrize("spec", [CATEGORICAL, BINOMIAL_TUCKER, MIXING])
@pytest.mark.parametrize("dataset_size", [1000, None])
def test_counts_rebuilt_from_the_weights_follow_explicit_running_counts(build_module, spec,
                                                                        dataset_size):
    """EM keeps only each distribution's total count and rebuilds the counts from the
    weights; in float64 it takes the same steps as EM that keeps every count. Batches of
    different sizes change the scale when no data set size is given."""
    module = build_module(spec)
    batches = [_data(module, rows, seed) for seed, rows in enumerate((16, 9, 16, 5, 12))]
    expected = module.Circuit(seed=4).double()
    _reference_em(module, expected, batches, 0.3, 0.2, dataset_size)
    circuit = module.Circuit(seed=4).double()
    em = MiniBatchEM(circuit, step_size=0.3, pseudo_count=0.2, dataset_size=dataset_size)
    for x in batches:
        em.step(x)
    for name in module.EM_RULES:
        assert torch.allclose(getattr(circuit, name), getattr(expected, name), atol=1e-10), name


def _trained(module, steps: int) -> tuple[torch.nn.Module, MiniBatchEM]:
    circuit = module.Circuit(seed=0)
    em = MiniBatchEM(circuit, step_size=0.3, pseudo_count=0.2, dataset_size=100)
    for seed in range(steps):
        em.step(_data(module, 8, seed))
    return circuit, em


@pytest.mark.parametrize("spec", [CATEGORICAL, BINOMIAL_TUCKER])
def test_resuming_from_the_weights_and_saved_state_is_bit_for_bit(build_module, spec):
    module = build_module(spec)
    straight, em = _trained(module, 5)
    circuit, saved = _trained(module, 3)
    buffer = io.BytesIO()
    torch.save({"weights": circuit.state_dict(), "em": saved.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed = module.Circuit(seed=9)
    resumed.load_state_dict(checkpoint["weights"])
    again = MiniBatchEM(resumed)
    again.load_state_dict(checkpoint["em"])
    assert again.steps == 3 and again.step_size == 0.3 and again.dataset_size == 100
    for seed in (3, 4):
        again.step(_data(module, 8, seed))
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


def test_state_holds_one_total_per_distribution(build_module):
    """No copy of the weights: one number per distribution (a 1/V-th of a categorical
    input's parameters, a 1/K-th of a sum's)."""
    module = build_module(MIXING)
    circuit, em = _trained(module, 2)
    state = em.state_dict()
    assert set(state["masses"]) == set(module.EM_RULES)
    for name, mass in state["masses"].items():
        assert mass.shape == getattr(circuit, name).shape[:-1], name
        assert mass.dtype == getattr(circuit, name).dtype
    assert set(state) == {"format", "steps", "step_size", "pseudo_count", "step_decay",
                          "min_step_size", "dataset_size", "scale", "masses"}


def test_the_first_state_format_still_loads(build_module):
    """A state saved with every running count (``statistics``, before totals) resumes as
    EM that keeps every count would."""
    module = build_module(BINOMIAL_TUCKER)
    batches = [_data(module, 8, seed) for seed in range(4)]
    expected = module.Circuit(seed=1).double()
    _reference_em(module, expected, batches, 0.3, 0.2, 100)
    circuit = module.Circuit(seed=1).double()
    statistics = _reference_em(module, circuit, batches[:2], 0.3, 0.2, 100)
    em = MiniBatchEM(circuit)
    em.load_state_dict({"steps": 2, "step_size": 0.3, "pseudo_count": 0.2, "step_decay": 1.0,
                        "min_step_size": 0.0, "dataset_size": 100, "statistics": statistics})
    for x in batches[2:]:
        em.step(x)
    for name in module.EM_RULES:
        assert torch.allclose(getattr(circuit, name), getattr(expected, name), atol=1e-10), name


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
