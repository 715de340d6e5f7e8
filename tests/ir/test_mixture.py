"""mixture(a, b, ...): the circuits side by side under one mixing sum of their outputs,
checked against mathematics (brute-force enumeration of every state): a distribution, the
weighted sum of its components, consistent marginals, sampling frequencies, EM that learns,
and a located error for every model that cannot be mixed."""

from __future__ import annotations

import math

import pytest
import torch

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source, emit_python
from pcdsl.runtime.em import MiniBatchEM
from pcdsl.runtime.loading import module_from_source
from tests.codegen.test_sampling import chi_square_p_value, state_index
from tests.reference import all_states

COMPONENTS = """\
model a {
  data = image(height = 2, width = 2, values = 3)
  regions = quad_tree
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
model b {
  data = image(height = 2, width = 2, values = 3)
  regions = linear_tree
  inputs = categorical(units = 2)
  layers = tucker(units = 2)
}
model c {
  data = image(height = 2, width = 2, values = 3)
  regions = random_binary_tree(depth = 1, repetitions = 2)
  inputs = categorical(units = 3)
  layers = cp(units = 3)
}
"""
MIXTURE = COMPONENTS + "model m = mixture(a, b, c)\n"
STATES = all_states(4, 3)


def module(source: str, name: str = "m"):
    compiled = compile_source(source, "mix.pc")
    return module_from_source(emit_python(compiled, compiled.model(name)))


def components_alone(module, circuit) -> list[torch.Tensor]:
    """The log-likelihood of every state under each component on its own (all of the
    root's weight on it), the root's weights left as they were."""
    root = getattr(circuit, f"mixing_{module.OUTPUT_FOLD}")
    saved, alone = root.detach().clone(), []
    with torch.no_grad():
        for k in range(root.shape[-1]):
            root.fill_(-60.0)
            root[0, 0, k] = 60.0
            alone.append(circuit(STATES).double())
        root.copy_(saved)
    return alone


@pytest.fixture(scope="module")
def mixture():
    return module(MIXTURE)


def test_a_mixture_is_a_distribution(mixture):
    circuit = mixture.Circuit(seed=1)
    with torch.no_grad():
        total = torch.logsumexp(circuit(STATES).double(), 0)
    assert abs(float(total)) < 1e-5
    assert mixture.IS_SMOOTH and mixture.IS_DECOMPOSABLE and not mixture.IS_STRUCTURED_DECOMPOSABLE


def test_it_is_the_weighted_sum_of_its_components(mixture):
    circuit = mixture.Circuit(seed=2)
    weights = getattr(circuit, f"mixing_{mixture.OUTPUT_FOLD}")
    assert weights.shape == (1, 1, 3)
    alone = components_alone(mixture, circuit)
    with torch.no_grad():
        logits = torch.tensor([0.3, -1.0, 0.5])
        weights.copy_(logits.view(1, 1, 3))
        mixed = circuit(STATES).double()
    expected = torch.logsumexp(torch.stack(alone) + torch.log_softmax(logits.double(), 0)[:, None], 0)
    torch.testing.assert_close(mixed, expected, rtol=1e-5, atol=1e-5)
    for component in alone:  # each component a distribution of its own
        assert abs(float(torch.logsumexp(component, 0))) < 1e-5


def test_marginals_sum_the_joint(mixture):
    circuit = mixture.Circuit(seed=3)
    observed = torch.tensor([True, False, True, False])
    with torch.no_grad():
        joint = circuit(STATES).double().exp()
        marginal = circuit.log_marginal(STATES, observed).double().exp()
    keys = STATES[:, 0] * 3 + STATES[:, 2]
    summed = torch.zeros(9, dtype=torch.float64).index_add_(0, keys, joint)
    torch.testing.assert_close(marginal, summed[keys], rtol=1e-5, atol=1e-7)


def test_samples_follow_the_mixture(mixture):
    circuit = mixture.Circuit(seed=4)
    with torch.no_grad():
        probabilities = circuit(STATES).exp()
    samples = circuit.sample(20000, generator=torch.Generator().manual_seed(0)).reshape(20000, 4)
    counts = torch.bincount(state_index(samples, 3), minlength=81).double()
    assert chi_square_p_value(counts, probabilities) > 0.001
    assert chi_square_p_value(counts, torch.full_like(probabilities, 1 / 81)) < 1e-6


def test_em_learns_the_mixture_weights_and_the_components(mixture):
    circuit = mixture.Circuit(seed=5)
    generator = torch.Generator().manual_seed(0)
    data = torch.where(torch.rand(512, 1, generator=generator) < 0.7,
                       torch.tensor([[0, 1, 2, 0]]), torch.tensor([[2, 2, 0, 1]]))
    noise = torch.rand(512, 4, generator=generator) < 0.1
    data = torch.where(noise, torch.randint(0, 3, (512, 4), generator=generator), data)
    weights = getattr(circuit, f"mixing_{mixture.OUTPUT_FOLD}").detach().clone()
    em = MiniBatchEM(circuit, step_size=0.5, pseudo_count=0.01)
    with torch.no_grad():
        before = float(circuit(data).mean())
    for _ in range(30):
        em.step(data)
    with torch.no_grad():
        after = float(circuit(data).mean())
        assert abs(float(torch.logsumexp(circuit(STATES).double(), 0))) < 1e-5
    assert after > before + 1.0
    assert not torch.equal(getattr(circuit, f"mixing_{mixture.OUTPUT_FOLD}"), weights)


def test_a_mixture_of_one_region_graph_stays_structured():
    source = COMPONENTS.replace("regions = linear_tree", "regions = quad_tree").replace(
        "tucker(units = 2)", "cp(units = 2)") + "model m = mixture(a, b)\n"
    assert module(source).IS_STRUCTURED_DECOMPOSABLE


@pytest.mark.parametrize("declaration, message", [
    ("model m = mixture(a)", "'mixture' takes two models or more, found 1"),
    ("model m = mixture(a, d)", "mixture(a, d) needs models over the same data"),
    ("model m = mixture(a, s)", "needs non-negative weights"),
    ("model m = mixture(a, bb)", "unknown model 'bb'"),
])
def test_models_that_cannot_be_mixed_are_located_errors(declaration, message):
    extra = """\
model d {
  data = image(height = 2, width = 3, values = 3)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
model s {
  data = image(height = 2, width = 2, values = 3)
  regions = quad_tree
  inputs = categorical(units = 2)
  layers = cp(units = 2)
  weights = none
}
model q = square(s)
"""
    source = COMPONENTS + extra + declaration + "\n"
    with pytest.raises(CompileError) as caught:
        compile_source(source, "mix.pc")
    found = [d for d in caught.value.diagnostics if d.is_error]
    assert any(message in d.message for d in found), [d.message for d in found]
    line = source.count("\n", 0, source.index(declaration)) + 1
    assert all(d.span is not None and d.span.line == line for d in found if message in d.message)


def test_bits_per_dimension_of_a_mixture_are_no_worse_than_its_worst_component(mixture):
    # p = sum_i w_i p_i >= min_i p_i: a check of the root's arithmetic at random weights.
    circuit = mixture.Circuit(seed=6)
    with torch.no_grad():
        mixed = circuit(STATES).double()
    parts = components_alone(mixture, circuit)
    assert (mixed >= torch.stack(parts).min(0).values - 1e-5).all()
    assert math.isfinite(float(mixed.sum()))
