"""Exact queries of generated modules, checked by brute-force enumeration (float64)."""

from __future__ import annotations

import pytest
import torch

from tests.reference import all_states

SPECS = {
    "quad_graph": """model m { data = image(channels = 1, height = 2, width = 3, values = 3)
                     inputs = categorical(units = 3) layers = cp(units = 4)
                     weights = softmax(init = normal(std = 2.0)) }""",
    "quad_tree4": """model m { data = image(channels = 2, height = 2, width = 2, values = 2)
                     regions = quad_tree(splits = 4)
                     inputs = categorical(units = 3) layers = cp(units = 3) }""",
    "quad_tree2": """model m { data = image(channels = 1, height = 3, width = 2, values = 3)
                     regions = quad_tree(splits = 2)
                     inputs = categorical(units = 2) layers = cp(units = 3) }""",
    "stacked": """model m { data = image(channels = 1, height = 2, width = 3, values = 3)
                  inputs = categorical(units = 2) layers = cp_t(units = 2) mixing = dense }""",
    "tucker": """model m { data = image(channels = 1, height = 2, width = 3, values = 3)
                 inputs = categorical(units = 2) layers = tucker(units = 2) }""",
    "hand_written": """model m { data = variables(count = 5, values = 3)
                       inputs = categorical(units = 2) layers = cp(units = 3)
                       structure { region ab = x[0] * x[1]
                                   region abc = ab * x[2] | x[0] * x[1] * x[2]
                                   region root = abc * x[3] * x[4] } }""",
}


@pytest.fixture(params=sorted(SPECS))
def circuit(request, build_module):
    return build_module(SPECS[request.param]).Circuit(seed=3).double()


def test_marginals_equal_sums_over_completions(circuit):
    d, v = circuit.num_variables, circuit.num_values
    every = all_states(d, v)
    with torch.no_grad():
        joint = circuit(every)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        observed = torch.rand(d, generator=generator) < 0.5
        x = every[torch.randint(len(every), (4,), generator=generator)]
        # Brute force: sum the joint over every state that agrees on the observed variables.
        agrees = (every[None, :, :] == x[:, None, :]) | ~observed
        want = torch.stack([torch.logsumexp(joint[row.all(-1)], 0) for row in agrees])
        with torch.no_grad():
            got = circuit.log_marginal(x, observed)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_forward_is_the_fully_observed_marginal(circuit):
    x = all_states(circuit.num_variables, circuit.num_values)[:20]
    with torch.no_grad():
        full = circuit.log_marginal(x, torch.ones(circuit.num_variables, dtype=torch.bool))
        torch.testing.assert_close(full, circuit(x))
        nothing = circuit.log_marginal(x, torch.zeros(circuit.num_variables, dtype=torch.bool))
    torch.testing.assert_close(nothing, torch.zeros_like(nothing), rtol=0, atol=1e-12)


def test_unobserved_values_are_ignored(circuit):
    d = circuit.num_variables
    observed = torch.arange(d) % 2 == 0
    x = torch.zeros(3, d, dtype=torch.long)
    y = x.clone()
    y[:, ~observed] = 10_000  # out of range, but unobserved
    with torch.no_grad():
        torch.testing.assert_close(circuit.log_marginal(x, observed),
                                   circuit.log_marginal(y, observed))


def test_conditionals_sum_to_one_over_query_states(circuit):
    d, v = circuit.num_variables, circuit.num_values
    query = torch.zeros(d, dtype=torch.bool)
    query[:2] = True
    evidence = torch.zeros(d, dtype=torch.bool)
    evidence[-2:] = True
    base = torch.randint(v, (d,), generator=torch.Generator().manual_seed(1))
    rows = base.repeat(v * v, 1)
    rows[:, :2] = all_states(2, v)
    with torch.no_grad():
        conditional = circuit.log_conditional(rows, query, evidence)
    assert abs(torch.logsumexp(conditional, 0).item()) < 1e-9
    with pytest.raises(ValueError):
        circuit.log_conditional(rows, query, query)


def test_per_row_masks(circuit):
    d = circuit.num_variables
    x = torch.zeros(2, d, dtype=torch.long)
    masks = torch.zeros(2, d, dtype=torch.bool)
    masks[0, 0] = True
    masks[1, 1] = True
    with torch.no_grad():
        both = circuit.log_marginal(x, masks)
        first = circuit.log_marginal(x[:1], masks[0])
        second = circuit.log_marginal(x[1:], masks[1])
    torch.testing.assert_close(both, torch.cat([first, second]))


def test_gradients_finite_with_everything_unobserved(circuit):
    x = torch.zeros(3, circuit.num_variables, dtype=torch.long)
    nothing = torch.zeros(circuit.num_variables, dtype=torch.bool)
    circuit.log_marginal(x, nothing).sum().backward()
    for name, parameter in circuit.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_image_shaped_masks(build_module):
    circuit = build_module(SPECS["quad_graph"]).Circuit().double()
    x = torch.zeros(2, 1, 2, 3, dtype=torch.long)
    mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    mask[0, 0, :] = True
    with torch.no_grad():
        torch.testing.assert_close(circuit.log_marginal(x, mask),
                                   circuit.log_marginal(x.view(2, 6), mask.view(6)))
    with pytest.raises(ValueError):
        circuit.log_marginal(x, torch.zeros(5, dtype=torch.bool))
    with pytest.raises(TypeError):
        circuit.log_marginal(x, torch.zeros(6))


def test_cached_parameters_follow_updates(build_module):
    """Normalised parameters are cached while gradients are off; any parameter update (an
    optimiser step, a load) must invalidate them, and a cache filled by one kind of call
    must serve every other."""
    circuit = build_module(SPECS["quad_graph"]).Circuit().double()
    x = all_states(6, 3)[::7]
    with torch.no_grad():
        circuit.normalised(dense_tables=False)  # fill the cache without dense tables
        before = circuit(x)
    optimiser = torch.optim.SGD(circuit.parameters(), lr=0.5)
    (-circuit(x).mean()).backward()
    optimiser.step()
    with torch.no_grad():
        after = circuit(x)
    fresh = circuit(x).detach()  # gradients on: never cached
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh)
    circuit.load_state_dict({k: torch.zeros_like(v) for k, v in circuit.state_dict().items()})
    with torch.no_grad():
        uniform = circuit(x)
    torch.testing.assert_close(uniform, torch.full_like(uniform, -6 * torch.log(torch.tensor(3.0)).item()))
