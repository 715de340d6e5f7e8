"""Exact sampling: empirical frequencies of many samples match the model's probabilities
(chi-square goodness of fit), unconditionally and given evidence."""

from __future__ import annotations

import pytest
import torch

from tests.reference import all_states

SPECS = {
    "quad_graph": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                     inputs = categorical(units = 3) layers = cp(units = 3)
                     weights = softmax(init = normal(std = 2.0)) seed = 5 }""",
    "stacked": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                  inputs = categorical(units = 2) layers = cp(units = 2) mixing = dense
                  weights = softmax(init = normal(std = 2.0)) seed = 5 }""",
    "tucker": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                 inputs = categorical(units = 2) layers = tucker(units = 2)
                 weights = softmax(init = normal(std = 2.0)) seed = 5 }""",
    "hand_written": """model m { data = variables(count = 4, values = 3)
                       inputs = categorical(units = 2) layers = cp(units = 3)
                       weights = softmax(init = normal(std = 2.0))
                       structure { region ab = x[0] * x[1]
                                   region root = ab * x[2] * x[3] | x[0] * x[1] * x[3] * x[2] } }""",
}
SAMPLES = 20_000


def chi_square_p_value(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
    """Goodness-of-fit p-value; bins expecting fewer than 5 counts are pooled."""
    expected = probabilities * counts.sum()
    small = expected < 5
    observed = torch.cat([counts[~small], counts[small].sum().unsqueeze(0)])
    expected = torch.cat([expected[~small], expected[small].sum().unsqueeze(0)])
    keep = expected > 0
    observed, expected = observed[keep], expected[keep]
    statistic = ((observed - expected) ** 2 / expected).sum()
    dof = len(expected) - 1
    return torch.special.gammaincc(torch.tensor(dof / 2.0, dtype=torch.float64),
                                   statistic / 2).item()


def state_index(samples: torch.Tensor, num_values: int) -> torch.Tensor:
    weights = num_values ** torch.arange(samples.shape[1] - 1, -1, -1)
    return (samples * weights).sum(-1)


@pytest.fixture(params=sorted(SPECS))
def circuit(request, build_module):
    return build_module(SPECS[request.param]).Circuit().double()


def test_sample_frequencies_match_probabilities(circuit):
    d, v = circuit.num_variables, circuit.num_values
    every = all_states(d, v)
    with torch.no_grad():
        probabilities = circuit(every).exp()
    samples = circuit.sample(SAMPLES, generator=torch.Generator().manual_seed(0))
    samples = samples.reshape(SAMPLES, d)
    counts = torch.bincount(state_index(samples, v), minlength=v ** d).double()
    assert chi_square_p_value(counts, probabilities) > 0.001
    # A wrong sampler would be caught: the same counts do not fit a uniform model.
    assert chi_square_p_value(counts, torch.full_like(probabilities, 1 / v ** d)) < 1e-6


def test_conditional_sample_frequencies(circuit):
    d, v = circuit.num_variables, circuit.num_values
    observed = torch.zeros(d, dtype=torch.bool)
    observed[0] = True
    observed[-1] = True
    evidence = torch.tensor([2] + [0] * (d - 2) + [1])
    every = all_states(d, v)
    consistent = every[(every[:, observed] == evidence[observed]).all(-1)]
    with torch.no_grad():
        conditional = circuit(consistent).exp()
    conditional = conditional / conditional.sum()
    batch = evidence.repeat(SAMPLES, 1)
    samples = circuit.sample_conditional(batch, observed,
                                         generator=torch.Generator().manual_seed(1))
    assert (samples[:, observed] == evidence[observed]).all()  # evidence kept
    free = samples[:, ~observed]
    counts = torch.bincount(state_index(free, v), minlength=len(consistent)).double()
    # consistent is in lexicographic order of its free variables, as state_index counts.
    assert chi_square_p_value(counts, conditional) > 0.001


def test_sampling_is_reproducible_with_a_generator(build_module):
    circuit = build_module(SPECS["quad_graph"]).Circuit()
    a = circuit.sample(50, generator=torch.Generator().manual_seed(3))
    b = circuit.sample(50, generator=torch.Generator().manual_seed(3))
    assert a.shape == (50, 1, 2, 2) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() < 3
