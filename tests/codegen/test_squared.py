"""Squared circuits, p(x) = c(x)^2 / Z, and products of circuits, p(x) = a(x) b(x) / Z: the
generated module against brute-force enumeration of tiny models, with c (or a b) computed by
the independent evaluator of tests/reference.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from pcdsl.driver import compile_source, emit_python
from pcdsl.runtime.loading import load_generated
from tests.reference import all_states, reference_log_likelihood

BASE = """
model base {{
  data    = {data}
  regions = {regions}
  inputs  = {inputs}
  layers  = {layers}
  weights = none(init = normal(mean = 0.0, std = 0.7))
  {extra}
}}
model made = square(base)
"""
FACTORS = """
model a {{
  data    = {data}
  regions = {regions}
  inputs  = {inputs[0]}
  layers  = {layers[0]}
}}
model b {{
  data    = {data}
  regions = {regions}
  inputs  = {inputs[1]}
  layers  = {layers[1]}
  seed    = 7
}}
model made = multiply(a, b)
"""
IMAGE = "image(channels = 1, height = 2, width = 2, values = 3)"

CONFIGS = {
    "cp-quad-tree-4": (IMAGE, "quad_tree(splits = 4)", "categorical(units = 3)", "cp(units = 4)", ""),
    "cp_t-quad-tree-2": (IMAGE, "quad_tree(splits = 2)", "categorical(units = 3)", "cp_t(units = 3)",
                         ""),
    "tucker-binomial": (IMAGE, "quad_tree(splits = 4)", "binomial(units = 2)", "tucker(units = 2)", ""),
    "embedding-linear-tree": ("image(channels = 1, height = 2, width = 2, values = 2)",
                              "linear_tree", "embedding(units = 2)", "cp(units = 3)", ""),
    "two-classes": ("image(channels = 1, height = 1, width = 3, values = 3)", "linear_tree",
                    "categorical(units = 2)", "cp(units = 3)", "classes = 2"),
    "mixing-repetitions": (IMAGE, "linear_tree(repetitions = 2)", "categorical(units = 2)",
                           "cp(units = 2)", ""),
    "two-channels": ("image(channels = 2, height = 1, width = 2, values = 2)",
                     "quad_tree(splits = 2)", "categorical(units = 2)", "cp(units = 2)", ""),
}
# Products: two models with the same region graph, their layers and units free to differ.
PRODUCTS = {
    "cp-times-cp_t": (IMAGE, "quad_tree(splits = 4)", ("categorical(units = 2)", "categorical(units = 3)"),
                      ("cp(units = 3)", "cp_t(units = 3)")),
    "tucker-times-tucker": (IMAGE, "quad_tree(splits = 2)", ("categorical(units = 2)",
                                                              "binomial(units = 2)"),
                            ("tucker(units = 2)", "tucker(units = 2)")),
    "linear-tree-mixing": (IMAGE, "linear_tree(repetitions = 2)",
                           ("categorical(units = 2)", "embedding(units = 2)"),
                           ("cp(units = 2)", "cp(units = 3)")),
}


def build(tmp_path: Path, source: str):
    """The model 'made' of ``source`` and its generated module."""
    compiled = compile_source(source, "base.pc")
    model = compiled.model("made")
    path = tmp_path / "made.py"
    path.write_text(emit_python(compiled, model))
    return model, load_generated(path)


def source_of(config: str) -> str:
    kind, name = config.split("/")
    if kind == "square":
        data, regions, inputs, layers, extra = CONFIGS[name]
        return BASE.format(data=data, regions=regions, inputs=inputs, layers=layers, extra=extra)
    data, regions, inputs, layers = PRODUCTS[name]
    return FACTORS.format(data=data, regions=regions, inputs=inputs, layers=layers)


@pytest.fixture(scope="module", params=[f"square/{c}" for c in sorted(CONFIGS)]
                + [f"multiply/{c}" for c in sorted(PRODUCTS)])
def squared(request, tmp_path_factory):
    """A squared or product model (``made``), its module and its circuit in float64."""
    model, module = build(tmp_path_factory.mktemp(request.param.replace("/", "-")),
                          source_of(request.param))
    circuit = module.Circuit().double()
    return model, module, circuit


def enumerate_squares(model, circuit) -> tuple[torch.Tensor, torch.Tensor]:
    """Every state, and the unnormalised density at each (states, classes) from the naive
    evaluator: c(x)^2 for a square, a(x) b(x) for a product (the circuit ends in it)."""
    states = all_states(circuit.num_variables, circuit.num_values)
    with torch.no_grad():
        values = reference_log_likelihood(model.circuit, model.folded, circuit, states, linear=True)
    values = values if values.dim() == 2 else values.unsqueeze(-1)
    return states, values ** 2 if model.algebra.operation == "square" else values


def test_normalised_by_enumeration(squared):
    model, module, circuit = squared
    states = all_states(circuit.num_variables, circuit.num_values)
    with torch.no_grad():
        total = circuit(states).exp().sum(dim=0)
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-9)
    assert module.IS_NORMALISED and circuit.is_normalised and module.ALGEBRA == model.algebra.operation


def test_likelihood_and_partition_match_enumeration(squared):
    model, _, circuit = squared
    states, squares = enumerate_squares(model, circuit)
    assert (squares.sum(dim=0) > 0).all()
    with torch.no_grad():
        log_z = circuit.log_partition()
        ll = circuit(states)
    torch.testing.assert_close(log_z.reshape(-1), squares.sum(dim=0).log(), rtol=0, atol=1e-9)
    expected = (squares / squares.sum(dim=0)).log()
    torch.testing.assert_close(ll.reshape(expected.shape), expected, rtol=0, atol=1e-9)


def test_marginals_match_enumeration(squared):
    model, _, circuit = squared
    states, squares = enumerate_squares(model, circuit)
    probabilities = squares / squares.sum(dim=0)
    d = circuit.num_variables
    for observed in (torch.tensor([True] + [False] * (d - 1)),
                     torch.tensor([i % 2 == 1 for i in range(d)]),
                     torch.zeros(d, dtype=torch.bool)):
        # The marginal of each row: the total probability of the states agreeing with it on
        # the observed variables.
        same = (states[:, None, :] == states[None, :, :]) | ~observed
        expected = (same.all(dim=-1).double() @ probabilities).log()
        with torch.no_grad():
            found = circuit.log_marginal(states, observed)
        torch.testing.assert_close(found.reshape(expected.shape), expected, rtol=0, atol=1e-9)


def test_conditional_is_a_distribution(squared):
    _, _, circuit = squared
    states = all_states(circuit.num_variables, circuit.num_values)
    query = torch.zeros(circuit.num_variables, dtype=torch.bool)
    query[-1] = True
    evidence = ~query
    with torch.no_grad():
        conditional = circuit.log_conditional(states, query, evidence).exp()
    # Rows that differ only in the queried variable partition the states: each group sums to 1.
    groups = conditional.reshape(-1, circuit.num_values, *conditional.shape[1:]).sum(dim=1)
    torch.testing.assert_close(groups, torch.ones_like(groups), rtol=0, atol=1e-9)


@pytest.mark.parametrize("data,regions,layers", [
    ("image(channels = 1, height = 1, width = 3, values = 2)", "linear_tree(repetitions = 2)",
     "cp(units = 2)"),
    ("image(channels = 1, height = 2, width = 2, values = 3)", "quad_tree(splits = 2)",
     "tucker(units = 2)"),
])
def test_sampling_frequencies_match_enumeration(tmp_path, data, regions, layers):
    source = BASE.format(data=data, regions=regions, inputs="categorical(units = 2)",
                         layers=layers, extra="")
    model, module = build(tmp_path, source)
    circuit = module.Circuit().double()
    states, squares = enumerate_squares(model, circuit)
    d, v = circuit.num_variables, circuit.num_values
    digits = torch.tensor([v ** (d - 1 - i) for i in range(d)])  # the enumeration's order

    def assert_frequencies(samples: torch.Tensor, probabilities: torch.Tensor) -> None:
        codes = (samples.reshape(len(samples), d) * digits).sum(dim=1)
        frequencies = torch.bincount(codes, minlength=len(states)).double() / len(samples)
        bound = 4 * (probabilities * (1 - probabilities) / len(samples)).sqrt() + 2e-3
        assert ((frequencies - probabilities).abs() <= bound).all(), (frequencies, probabilities)

    probabilities = squares[:, 0] / squares[:, 0].sum()
    assert_frequencies(circuit.sample(6_000, generator=torch.Generator().manual_seed(0)),
                       probabilities)
    # Conditional sampling keeps the observed value and draws the rest from the conditional.
    x = torch.zeros(6_000, d, dtype=torch.long)
    x[:, 0] = 1
    observed = torch.zeros(d, dtype=torch.bool)
    observed[0] = True
    completed = circuit.sample_conditional(x, observed, generator=torch.Generator().manual_seed(1))
    assert (completed[:, 0] == 1).all() and completed.shape == x.shape
    conditional = torch.where(states[:, 0] == 1, probabilities, torch.zeros_like(probabilities))
    assert_frequencies(completed, conditional / conditional.sum())


def test_the_sampler_draws_each_variable_from_its_exact_conditional(squared):
    """The sampler's masses for variable v, given x[:v] (the autograd shortcut of
    ``_value_masses``), normalised per row, are the conditionals p(x_v | x[:v]) of the
    enumeration, to 1e-9."""
    model, _, circuit = squared
    states, squares = enumerate_squares(model, circuit)
    probabilities = squares[:, 0] / squares[:, 0].sum()  # class 0 (of two, for one config)
    d, values = circuit.num_variables, circuit.num_values
    for v in range(d):
        observed = torch.zeros(len(states), d, dtype=torch.bool)
        observed[:, :v] = True
        with torch.no_grad():
            mass = circuit._value_masses(states, observed, v, 0)
        found = mass / mass.sum(dim=1, keepdim=True)
        # p(x_v = u | x[:v]) of each row: the states agreeing on x[:v] and with x_v = u.
        prefix = (states[:, None, :v] == states[None, :, :v]).all(dim=-1).double()
        joint = torch.stack([prefix @ (probabilities * (states[:, v] == u)) for u in range(values)],
                            dim=1)
        expected = joint / joint.sum(dim=1, keepdim=True)
        torch.testing.assert_close(found, expected, rtol=0, atol=1e-9)


def test_map_is_refused_naming_why(squared):
    model, _, circuit = squared
    x = torch.zeros(1, circuit.num_variables, dtype=torch.long)
    why = ("squared circuit.*signed" if model.algebra.operation == "square"
           else "product circuit.*decomposable")
    with pytest.raises(ValueError, match=f"MAP is not supported for the {why}"):
        circuit.map_complete(x, torch.zeros(circuit.num_variables, dtype=torch.bool))


def test_module_identity_and_em_refusal(squared):
    model, module, circuit = squared
    assert module.MODEL_NAME == "made" and module.ALGEBRA == model.algebra.operation
    assert module.OPERANDS == (("base",) if module.ALGEBRA == "square" else ("a", "b"))
    assert isinstance(circuit, module.BaseCircuit)
    assert module.EM_RULES == {}
    from pcdsl.runtime.em import EMNotSupported, MiniBatchEM
    with pytest.raises(EMNotSupported):
        MiniBatchEM(circuit)


def test_training_lowers_the_loss_with_finite_gradients(tmp_path):
    source = BASE.format(data=IMAGE, regions="quad_tree(splits = 4)",
                         inputs="categorical(units = 3)", layers="cp(units = 4)", extra="")
    _, module = build(tmp_path, source)
    circuit = module.Circuit()
    batch = torch.tensor([[0, 1, 2, 0], [0, 1, 2, 1], [2, 2, 2, 0]] * 4)
    optimiser = torch.optim.Adam(circuit.parameters(), lr=0.05)
    losses = []
    for _ in range(10):
        optimiser.zero_grad()
        loss = -circuit(batch).mean()
        loss.backward()
        for name, parameter in circuit.named_parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5, losses


def test_large_image_stays_finite_without_clamping(tmp_path):
    """28x28 with 256 values: Z is far below the smallest float32 (ln Z about -784 ln 256 away
    from c's scale), yet every value stays finite and each image gets its own value."""
    source = BASE.format(data="image(channels = 1, height = 28, width = 28, values = 256)",
                         regions="quad_tree(splits = 4)", inputs="categorical(units = 2)",
                         layers="cp(units = 2)", extra="")
    _, module = build(tmp_path, source)
    circuit = module.Circuit()
    x = torch.randint(256, (4, 784), generator=torch.Generator().manual_seed(0))
    ll = circuit(x)
    assert torch.isfinite(ll).all() and torch.isfinite(circuit.log_partition())
    assert len(set(ll.tolist())) == 4
    assert (ll < -708.4).all() and ((ll + 784 * math.log(256)).abs() < 1000).all()
    ll.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in circuit.parameters())


@pytest.mark.parametrize("config", [
    ("square", "quad_tree(splits = 4)", "cp(units = 3)"),
    ("square", "quad_tree(splits = 2)", "tucker(units = 2)"),
    ("square", "linear_tree(repetitions = 2)", "cp(units = 2)"),
    # libcirkit multiplies layers of the same kinds only: cp and cp_t differ at the leaves
    # (their product is checked by enumeration above).
    ("multiply", "quad_tree(splits = 4)", ("cp(units = 3)", "cp(units = 2)")),
])
def test_parity_with_cirkit_multiply_and_integrate(tmp_path, config):
    """The same circuits built in libcirkit 0.3.1 with our weights copied in: its
    integrate(multiply(c, c)) (or of multiply(a, b)) is our Z, and multiply(c, c) our c(x)^2
    (or a(x) b(x)), in float64."""
    pytest.importorskip("cirkit")
    import numpy as np
    from cirkit.pipeline import PipelineContext
    from cirkit.symbolic import functional
    from cirkit.symbolic.circuit import Circuit as SymbolicCircuit
    from cirkit.symbolic.layers import CategoricalLayer, HadamardLayer, KroneckerLayer, SumLayer
    from cirkit.symbolic.parameters import ConstantParameter, Parameter
    from cirkit.utils.scope import Scope

    from pcdsl.ir.circuit import LayerKind
    from tests.reference import layer_weights

    operation, regions, layers = config
    if operation == "square":
        source = BASE.format(data=IMAGE, regions=regions, inputs="categorical(units = 2)",
                             layers=layers, extra="")
    else:
        source = FACTORS.format(data=IMAGE, regions=regions, layers=layers,
                                inputs=("categorical(units = 2)", "categorical(units = 3)"))
    model, module = build(tmp_path, source)
    circuit = module.Circuit().double()
    weights = layer_weights(model.folded, circuit)

    def constant(value: torch.Tensor) -> Parameter:
        array = value.detach().numpy()
        return Parameter.from_input(ConstantParameter(*array.shape, value=array))

    symbolic: dict[int, object] = {}
    plan = model.algebra.plan
    roots = (plan.nodes[plan.output].left, plan.nodes[plan.output].right)
    layers_of = [layer for layer in model.circuit.layers if layer.id <= max(roots)]
    for layer in layers_of:  # a product's own last layer (a(x) b(x)) is not cirkit's
        value = weights.get(layer.id)
        inputs = [model.circuit.layers[i] for i in layer.inputs]
        if layer.kind is LayerKind.CATEGORICAL:
            symbolic[layer.id] = CategoricalLayer(Scope([layer.variable]), layer.num_units,
                                                  num_categories=3, probs=constant(value.exp()))
        elif layer.kind is LayerKind.DENSE:
            symbolic[layer.id] = SumLayer(value.shape[1], value.shape[0], 1, weight=constant(value))
        elif layer.kind is LayerKind.MIXING:  # unit k of each input: a block-diagonal matrix
            matrix = torch.cat([torch.diag(value[:, a]) for a in range(value.shape[1])], dim=1)
            symbolic[layer.id] = SumLayer(layer.num_units, layer.num_units, len(inputs),
                                          weight=constant(matrix))
        elif layer.kind is LayerKind.HADAMARD:
            symbolic[layer.id] = HadamardLayer(layer.num_units, len(inputs))
        else:
            assert layer.kind is LayerKind.KRONECKER
            symbolic[layer.id] = KroneckerLayer(inputs[0].num_units, len(inputs))
    def circuit_under(root: int) -> SymbolicCircuit:
        # A product's right factor has the layer ids after the left one's.
        ids = [layer.id for layer in layers_of
               if (layer.id <= roots[0]) == (root == roots[0]) or roots[0] == roots[1]]
        in_layers = {symbolic[i]: [symbolic[j] for j in model.circuit.layers[i].inputs] for i in ids}
        return SymbolicCircuit([symbolic[i] for i in ids], in_layers, [symbolic[root]])

    square = functional.multiply(circuit_under(roots[0]), circuit_under(roots[1]))
    context = PipelineContext(backend="torch", semiring="sum-product", fold=True, optimize=False)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        their_square = context.compile(square)
        their_z = context.compile(functional.integrate(square))
    finally:
        torch.set_default_dtype(default)
    states = all_states(4, 3)
    with torch.no_grad():
        z = their_z().reshape(())
        squares = their_square(states).reshape(-1)
        assert np.isclose(float(circuit.log_partition()), float(z.log()), rtol=0, atol=1e-9)
        torch.testing.assert_close(circuit(states), (squares / z).log(), rtol=0, atol=1e-9)


def test_gaussian_inputs_normalise_by_quadrature(tmp_path):
    """Real values: the Gram of two gaussian units is the integral of their product. The
    density integrates to 1 and the marginal of x[0] is the integral over x[1], by the
    trapezoid rule on a fine grid (1e-9: the densities are smooth and the tails negligible)."""
    source = BASE.format(data="image(channels = 1, height = 1, width = 2, domain = real)",
                         regions="quad_tree(splits = 2)", inputs="gaussian(units = 3)",
                         layers="cp(units = 3)", extra="")
    _, module = build(tmp_path, source)
    circuit = module.Circuit().double()
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    points = torch.cartesian_prod(grid, grid)  # x[0] major
    with torch.no_grad():
        density = circuit(points).exp().reshape(len(grid), len(grid))
        marginal = circuit.log_marginal(points[::len(grid)], torch.tensor([True, False])).exp()
    total = torch.trapezoid(torch.trapezoid(density, dx=step), dx=step)
    assert abs(float(total) - 1) < 1e-9
    torch.testing.assert_close(marginal, torch.trapezoid(density, dx=step, dim=1), rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="sampling is not supported .* over real values"):
        circuit.sample(1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda(squared):
    _, _, circuit = squared
    states = all_states(circuit.num_variables, circuit.num_values)
    observed = torch.zeros(circuit.num_variables, dtype=torch.bool)
    observed[0] = True
    with torch.no_grad():
        cpu = circuit(states), circuit.log_marginal(states, observed), circuit.log_partition()
        gpu = circuit.to("cuda")
        found = (gpu(states.cuda()), gpu.log_marginal(states.cuda(), observed.cuda()),
                 gpu.log_partition())
        samples = gpu.sample(4, generator=torch.Generator("cuda").manual_seed(0))
    circuit.cpu()
    for a, b in zip(found, cpu):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-9)
    assert samples.device.type == "cuda"
