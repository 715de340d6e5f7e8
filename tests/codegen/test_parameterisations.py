"""Parameterisations and input kinds beyond softmax categoricals: the generated module
computes what the definitions say (a naive log-space evaluator of the IR, in float64),
marginals integrate exactly, the total mass of an unnormalised circuit is its
``log_partition()`` (checked by enumerating every joint state), and EM sees exactly the
softmax-normalised parameters."""

from __future__ import annotations

import pytest
import torch

from pcdsl.driver import compile_source
from tests.reference import all_states, assert_agrees_with_reference, reference_log_likelihood

IMAGE = "image(channels = 2, height = 2, width = 2, values = 3)"

CONFIGS = {
    "categorical sigmoid probs": "inputs = categorical(units = 3, probs = sigmoid)",
    "categorical softplus probs": "inputs = categorical(units = 3, probs = softplus(init = "
                                  "uniform(a = -2.0, b = 2.0)))",
    "categorical clamp probs": "inputs = categorical(units = 3, probs = positive_clamp(init = "
                               "uniform(a = -0.5, b = 1.0), minimum = 0.01))",
    "categorical logits": "inputs = categorical(units = 3, logits = none)",
    "embedding": "inputs = embedding(units = 3)",
    "embedding softmax": "inputs = embedding(units = 3, weights = softmax(init = dirichlet))",
    "binomial logits": "inputs = binomial(units = 3, logits = none(init = normal(std = 0.5)))",
    "sigmoid sums": "inputs = categorical(units = 3)\n weights = sigmoid",
    "softplus sums, tucker": "inputs = categorical(units = 3)\n layers = tucker(units = 3)\n"
                             " weights = softplus(init = normal(std = 0.5))",
    "clamped sums, cp_t": "inputs = categorical(units = 3)\n layers = cp_t(units = 3)\n"
                          " weights = positive_clamp(init = uniform(a = -0.2, b = 1.0))",
    "none sums, positive": "inputs = categorical(units = 3)\n"
                           " weights = none(init = uniform(a = 0.1, b = 1.0))",
    "per-kind overrides": "inputs = categorical(units = 3)\n weights = softmax\n"
                          " dense_weights = softplus(init = uniform(a = -1.0, b = 1.0))\n"
                          " mixing_weights = sigmoid(init = dirichlet(alpha = 0.5))",
    "dense mixing overrides": "inputs = categorical(units = 3)\n mixing = dense\n"
                              " mixing_weights = softplus",
    "dirichlet softmax": "inputs = categorical(units = 3)\n"
                         " weights = softmax(init = dirichlet(alpha = 2.0))",
}


def source(config: str, data: str = IMAGE, regions: str = "quad_graph") -> str:
    body = CONFIGS[config]
    if "layers" not in body:
        body += "\n layers = cp(units = 4)"
    return f"model m {{\n data = {data}\n regions = {regions}\n {body}\n seed = 5\n}}"


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_forward_and_marginals_match_the_definitions(build_module, config):
    text = source(config)
    module = build_module(text)
    compiled = compile_source(text, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = torch.randint(3, (12, 8), generator=torch.Generator().manual_seed(1))
    observed = torch.rand(12, 8, generator=torch.Generator().manual_seed(2)) < 0.5
    assert_agrees_with_reference(compiled, circuit, x, observed)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_total_mass_is_the_partition_function(build_module, config):
    """Enumerating all 3^8 states: sum_x exp(forward(x)) = exp(log_partition()), which is 1
    exactly when the module says the circuit is normalised."""
    module = build_module(source(config))
    circuit = module.Circuit().double()
    with torch.no_grad():
        total = torch.logsumexp(circuit(all_states(8, 3)), 0)
        log_z = circuit.log_partition()
    torch.testing.assert_close(total, log_z, rtol=1e-9, atol=1e-9)
    if module.IS_NORMALISED:
        assert abs(log_z.item()) < 1e-9
    else:
        assert abs(log_z.item()) > 1e-3  # these weights are far from normalised


def test_em_rules_name_exactly_the_softmax_parameters(build_module):
    module = build_module(source("per-kind overrides"))
    circuit = module.Circuit()
    rules = module.EM_RULES
    names = dict(circuit.named_parameters())
    assert set(rules) <= set(names)
    assert {n for n in rules if n.startswith("categorical")} == {
        n for n in names if n.startswith("categorical")}
    assert set(rules.values()) == {"softmax"}
    assert not any(n.startswith("dense") or n.startswith("mixing") for n in rules)
    assert set(circuit.log_weights()) == set(rules)
    # The log-weights path (EM's E-step) computes the same log-likelihoods.
    x = torch.randint(3, (5, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        via_log_weights = circuit._evaluate(circuit.variables(x), None,
                                            log_weights=circuit.log_weights())
        torch.testing.assert_close(via_log_weights, circuit(x))
    assert not build_module(source("embedding")).EM_RULES.keys() & {"embedding_0"}
    binomial = build_module(source("binomial logits"))
    assert "binomial" in binomial.EM_RULES.values()


def test_normalised_models_keep_their_em_rules(build_module):
    module = build_module(source("dirichlet softmax"))
    circuit = module.Circuit()
    assert set(module.EM_RULES) == {n for n, _ in circuit.named_parameters()}
    assert module.IS_NORMALISED


@pytest.mark.parametrize("config", ["softplus sums, tucker", "embedding", "categorical logits"])
def test_gradients_match_the_definitions(build_module, config):
    text = source(config)
    module = build_module(text)
    compiled = compile_source(text, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = torch.randint(3, (20, 8), generator=torch.Generator().manual_seed(3))
    (circuit(x).sum() - 20 * circuit.log_partition()).backward()
    got = {name: p.grad.clone() for name, p in circuit.named_parameters()}
    circuit.zero_grad()
    reference = reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x)
    everything = torch.zeros(1, 8, dtype=torch.bool)
    log_z = reference_log_likelihood(compiled.circuit, compiled.folded, circuit,
                                     torch.zeros(1, 8, dtype=torch.long), everything)
    (reference.sum() - 20 * log_z.sum()).backward()
    for name, p in circuit.named_parameters():
        torch.testing.assert_close(got[name], p.grad, rtol=1e-8, atol=1e-10, msg=name)


def test_negative_weights_are_computed_and_refused_by_sampling(build_module):
    """With 'none' weights the circuit can be negative: the module computes its value (the
    log of a negative value is NaN) and sampling refuses."""
    text = ("model m { data = image(height = 2, width = 2, values = 3)\n"
            " inputs = categorical(units = 2) layers = cp(units = 3)\n"
            " weights = none(init = uniform(a = -1.0, b = 1.0)) seed = 5 }")
    module = build_module(text)
    compiled = compile_source(text, "spec.pc").models[0]
    circuit = module.Circuit().double()
    x = all_states(4, 3)
    with torch.no_grad():
        ll = circuit(x)
        value = reference_log_likelihood(compiled.circuit, compiled.folded, circuit, x,
                                         linear=True)
    assert (value < 0).any() and (value > 0).any()
    positive = value > 0
    torch.testing.assert_close(ll[positive], torch.log(value[positive]), rtol=1e-9, atol=1e-9)
    assert torch.isnan(ll[~positive & (value != 0)]).all()
    with torch.no_grad():
        log_z = circuit.log_partition()
    if value.sum() > 0:
        torch.testing.assert_close(log_z, value.sum().log(), rtol=1e-9, atol=1e-12)
    else:  # a negative total mass has no logarithm
        assert torch.isnan(log_z)
    with pytest.raises(ValueError, match="negative"):
        circuit.sample(3)


def test_unnormalised_sampling_follows_the_normalised_distribution(build_module):
    """Ancestral sampling of an unnormalised circuit draws from p(x) / Z."""
    module = build_module("""model m { data = image(height = 1, width = 2, values = 3)
        inputs = embedding(units = 2) layers = cp(units = 2) weights = softplus seed = 4 }""")
    circuit = module.Circuit().double()
    every = all_states(2, 3)
    with torch.no_grad():
        probabilities = torch.exp(circuit(every) - circuit.log_partition())
    samples = circuit.sample(20000, generator=torch.Generator().manual_seed(0)).view(-1, 2)
    counts = torch.bincount(samples[:, 0] * 3 + samples[:, 1], minlength=9).double() / 20000
    torch.testing.assert_close(counts, probabilities, rtol=0, atol=0.015)


def test_initialisers_draw_what_they_say(build_module):
    module = build_module("""model m { data = image(height = 4, width = 4, values = 5)
        inputs = categorical(units = 8, probs = softmax(init = uniform(a = -3.0, b = -1.0)))
        layers = cp(units = 8)
        dense_weights = softmax(init = dirichlet(alpha = 0.5))
        mixing_weights = sigmoid(init = normal(mean = 2.0, std = 0.1)) }""")
    circuit = module.Circuit()
    parameters = dict(circuit.named_parameters())
    uniform = torch.cat([p.flatten() for n, p in parameters.items() if n.startswith("categorical")])
    assert uniform.min() >= -3.0 and uniform.max() < -1.0 and uniform.std() > 0.4
    dirichlet = [p for n, p in parameters.items() if n.startswith("dense")]
    for p in dirichlet:  # draws on the simplex along the last axis
        assert (p > 0).all()
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]))
    normal = torch.cat([p.flatten() for n, p in parameters.items() if n.startswith("mixing")])
    assert abs(normal.mean().item() - 2.0) < 0.1 and normal.std().item() < 0.2


def test_same_spec_and_seed_give_the_same_file_and_weights(build_module):
    from pcdsl.driver import emit_python

    text = source("per-kind overrides")
    first = emit_python(compile_source(text, "spec.pc"), compile_source(text, "spec.pc").models[0])
    second = emit_python(compile_source(text, "spec.pc"), compile_source(text, "spec.pc").models[0])
    assert first == second
    module = build_module(text)
    one, two = module.Circuit(), module.Circuit()
    for (name, a), (_, b) in zip(one.named_parameters(), two.named_parameters()):
        assert torch.equal(a, b), name
    other = module.Circuit(seed=6)
    assert any(not torch.equal(a, b) for a, b in zip(one.parameters(), other.parameters()))
