"""The squared-circuit plan and its precondition (structured decomposability)."""

from __future__ import annotations

import pytest

from pcdsl.diagnostics import CompileError, Span
from pcdsl.driver import compile_source, square_model
from pcdsl.ir.algebra import GramKind, gram_plan, square_diagnostics

SPEC = """model base {{
  data    = image(channels = 1, height = 4, width = 4, values = 2)
  regions = {regions}
  inputs  = {inputs}
  layers  = {layers}
}}
"""
OPERATION = Span("spec.pc", 9, 18, 9, 30)


def compiled(regions: str, inputs: str = "categorical(units = 2)", layers: str = "cp(units = 2)"):
    source = SPEC.format(regions=regions, inputs=inputs, layers=layers)
    return compile_source(source, "spec.pc", require_valid=False).model("base")


def diagnostics(model):
    regions = model.spec.regions.kind if model.spec.regions is not None else None
    return square_diagnostics(model.circuit, "square(base)", OPERATION, regions)


@pytest.mark.parametrize("regions,hint", [
    ("quad_graph", "use quad_tree"),
    ("poon_domingos(delta = 1)", "use quad_tree"),
    ("random_binary_tree(repetitions = 2)", "use random_binary_tree with repetitions = 1"),
])
def test_not_structured_decomposable_is_located_at_the_operation(regions, hint):
    model = compiled(regions)
    assert not model.report.is_structured_decomposable
    (found,) = diagnostics(model)
    assert found.code == "not-structured" and found.span == OPERATION
    kind = regions.split("(")[0]
    assert f"square(base) needs a structured-decomposable circuit, and {kind} is not" in found.message
    assert "is split in two different ways" in found.message
    assert found.hint == hint
    assert found.notes == ()  # a built region graph has no declaration to point at
    with pytest.raises(ValueError, match="split in two different ways"):
        gram_plan(model.circuit)
    with pytest.raises(CompileError) as raised:
        square_model(model, "squared", OPERATION)
    assert raised.value.diagnostics[0].span == OPERATION


def test_a_hand_written_structure_gets_a_note_at_the_partition_at_fault():
    source = """model base {
  data   = variables(count = 4, values = 2)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
  structure {
    region front = x[0] * x[1]
    region back  = x[2] * x[3]
    region odd   = x[1] * x[3]
    region even  = x[0] * x[2]
    region root  = front * back | even * odd
  }
}
"""
    model = compile_source(source, "spec.pc").model("base")
    (found,) = square_diagnostics(model.circuit, "square(base)", OPERATION, None)
    assert "the structure is not structured-decomposable" in found.message
    assert found.hint.startswith("use a region graph with one split per region")
    ((note, where),) = found.notes
    assert "{x[0], x[1], x[2], x[3]} is split in two different ways" == note
    assert where is not None and where.line == 10


@pytest.mark.parametrize("regions", ["quad_tree(splits = 2)", "quad_tree(splits = 4)", "linear_tree",
                                     "random_binary_tree"])
def test_structured_decomposable_circuits_square(regions):
    model = compiled(regions)
    assert model.report.is_structured_decomposable and diagnostics(model) == ()
    plan = gram_plan(model.circuit)
    circuit = model.circuit
    # The self-product of a structured-decomposable circuit pairs each layer with itself:
    # one Gram per layer, each square, inputs first and the root's last.
    assert len(plan.nodes) == len(circuit.layers)
    assert all(n.left == n.right and n.rows == n.columns for n in plan.nodes)
    assert plan.nodes[plan.output].left == circuit.output
    assert all(i < n.id for n in plan.nodes for i in n.inputs)
    kinds = {n.kind for n in plan.nodes}
    assert kinds == {GramKind.INPUT, GramKind.SUM, GramKind.HADAMARD}
    inputs = [n for n in plan.nodes if n.kind is GramKind.INPUT]
    assert sorted(n.variable for n in inputs) == list(range(16))


def test_repeated_identical_splits_square_through_mixing_sums():
    """linear_tree(repetitions = 2) repeats one chain: the root mixes two partitions that split
    it the same way, so the plan pairs two different product layers."""
    model = compiled("linear_tree(repetitions = 2)")
    assert diagnostics(model) == ()
    plan = gram_plan(model.circuit)
    assert any(n.left != n.right for n in plan.nodes if n.kind is GramKind.HADAMARD)
    root = plan.nodes[plan.output]
    assert root.kind is GramKind.SUM


def test_tucker_pairs_kronecker_products():
    plan = gram_plan(compiled("quad_tree(splits = 4)", layers="tucker(units = 2)").circuit)
    products = [n for n in plan.nodes if n.kind is GramKind.KRONECKER]
    assert products and all(n.rows == 2 ** len(n.inputs) for n in products)


def test_square_model_renames_and_keeps_the_parameters():
    base = compiled("quad_tree")
    squared = square_model(base, "squared", OPERATION)
    assert squared.spec.name == squared.circuit.name == "squared"
    assert squared.spec.span == OPERATION
    assert squared.circuit.num_parameters == base.circuit.num_parameters
    assert squared.algebra is not None and squared.algebra.operands == ("base",)
    assert base.algebra is None
