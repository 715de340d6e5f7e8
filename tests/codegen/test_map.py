"""MAP completion by max-product, checked by brute force on tiny models (float64)."""

from __future__ import annotations

import pytest
import torch

from tests.reference import all_states

GENERAL = {
    "quad_graph": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                     inputs = categorical(units = 3) layers = cp(units = 3)
                     weights = softmax(init = normal(std = 2.0)) }""",
    "stacked": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                  inputs = categorical(units = 2) layers = cp(units = 2) mixing = dense
                  weights = softmax(init = normal(std = 2.0)) }""",
    "tucker": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                 inputs = categorical(units = 2) layers = tucker(units = 2)
                 weights = softmax(init = normal(std = 2.0)) }""",
    "cp_t": """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
               inputs = categorical(units = 3) layers = cp_t(units = 3)
               weights = softmax(init = normal(std = 2.0)) }""",
    "hand_written": """model m { data = variables(count = 4, values = 3)
                       inputs = categorical(units = 2) layers = cp(units = 2)
                       weights = softmax(init = normal(std = 2.0))
                       structure { region ab = x[0] * x[1]
                                   region root = ab * x[2] * x[3] | x[0] * x[1] * x[3] * x[2] } }""",
}
# One unit everywhere and one partition per region: every sum has a single input, so the
# circuit is deterministic and max-product is exact MAP.
DETERMINISTIC = """model m { data = image(channels = 1, height = 2, width = 3, values = 3)
                   regions = quad_tree(splits = 2)
                   inputs = categorical(units = 1) layers = cp(units = 1) }"""


def completions(x: torch.Tensor, observed: torch.Tensor, num_values: int) -> torch.Tensor:
    free = int((~observed).sum())
    rows = x.repeat(num_values ** free, 1)
    rows[:, ~observed] = all_states(free, num_values)
    return rows


def test_deterministic_map_equals_brute_force(build_module):
    circuit = build_module(DETERMINISTIC).Circuit(seed=2).double()
    d, v = circuit.num_variables, circuit.num_values
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        observed = torch.rand(d, generator=generator) < 0.4
        x = torch.randint(v, (1, d), generator=generator)
        candidates = completions(x[0], observed, v)
        with torch.no_grad():
            best = candidates[circuit(candidates).argmax()]
            completion, value = circuit.map_complete(x, observed)
            likelihood = circuit(completion)
        assert torch.equal(completion[0], best)
        torch.testing.assert_close(value, likelihood)  # exact for deterministic circuits


@pytest.mark.parametrize("name", sorted(GENERAL))
def test_max_product_value_is_attained_and_maximal(build_module, name):
    """The reported value is the max-product value of the returned completion, and no
    other completion has a larger max-product value."""
    circuit = build_module(GENERAL[name]).Circuit(seed=4).double()
    d, v = circuit.num_variables, circuit.num_values
    everything = torch.ones(d, dtype=torch.bool)
    observed = torch.zeros(d, dtype=torch.bool)
    observed[0] = True
    x = torch.tensor([[1] + [0] * (d - 1)])
    completion, value = circuit.map_complete(x, observed)
    assert completion[0, 0] == 1
    _, attained = circuit.map_complete(completion, everything)
    torch.testing.assert_close(value, attained)
    candidates = completions(x[0], observed, v)
    _, others = circuit.map_complete(candidates, everything)
    assert others.max() <= value + 1e-9
    with torch.no_grad():
        assert value <= circuit(completion) + 1e-9  # one tree's mass <= the whole sum


def test_map_complete_keeps_shapes_and_evidence(build_module):
    circuit = build_module(GENERAL["quad_graph"]).Circuit()
    x = torch.randint(3, (5, 1, 2, 2), generator=torch.Generator().manual_seed(1))
    observed = torch.zeros(1, 2, 2, dtype=torch.bool)
    observed[0, 0, :] = True
    completion, value = circuit.map_complete(x, observed)
    assert completion.shape == x.shape and value.shape == (5,)
    assert torch.equal(completion[:, 0, 0, :], x[:, 0, 0, :])


def test_queries_accept_an_empty_batch(build_module):
    circuit = build_module(GENERAL["quad_graph"]).Circuit()
    empty = torch.zeros(0, 4, dtype=torch.long)
    observed = torch.ones(4, dtype=torch.bool)
    completion, value = circuit.map_complete(empty, observed)
    assert completion.shape == (0, 4) and value.shape == (0,)
    assert circuit.log_marginal(empty, observed).shape == (0,)
    assert circuit.sample_conditional(empty, observed).shape == (0, 4)
