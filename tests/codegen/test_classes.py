"""Several classes: one normalised distribution per class, and queries per class."""

from __future__ import annotations

import pytest
import torch

from tests.reference import all_states

SPEC = """model m { data = image(channels = 1, height = 2, width = 2, values = 3)
                   inputs = categorical(units = 3) layers = cp(units = 3)
                   weights = softmax(init = normal(std = 2.0)) classes = 3 }"""


@pytest.fixture
def circuit(build_module):
    return build_module(SPEC).Circuit().double()


def test_each_class_is_a_normalised_distribution(circuit):
    states = all_states(4, 3)
    with torch.no_grad():
        ll = circuit(states)
    assert ll.shape == (81, 3)
    torch.testing.assert_close(torch.logsumexp(ll, 0), torch.zeros(3, dtype=torch.float64),
                               rtol=0, atol=1e-10)
    assert (ll[:, 0] - ll[:, 1]).abs().max() > 0.1  # the classes differ


def test_marginals_and_samples_per_class(circuit):
    states = all_states(4, 3)
    observed = torch.tensor([True, False, False, True])
    with torch.no_grad():
        joint = circuit(states)
        marginal = circuit.log_marginal(states[:5], observed)
    for row in range(5):
        agree = (states[:, observed] == states[row, observed]).all(-1)
        torch.testing.assert_close(marginal[row], torch.logsumexp(joint[agree], 0))
    samples = circuit.sample(4000, generator=torch.Generator().manual_seed(0), class_index=2)
    index = (samples.view(-1, 4) * torch.tensor([27, 9, 3, 1])).sum(-1)
    frequencies = torch.bincount(index, minlength=81).double() / 4000
    probabilities = joint[:, 2].exp()
    assert (frequencies - probabilities).abs().max() < 0.03  # 4000 draws: sd <= 0.008
    with pytest.raises(ValueError):
        circuit.sample(2, class_index=3)


def test_map_value_is_per_class(circuit):
    x = torch.zeros(2, 4, dtype=torch.long)
    observed = torch.tensor([True, True, False, False])
    values = [circuit.map_complete(x, observed, class_index=c)[1] for c in range(3)]
    assert not torch.allclose(values[0], values[1])
