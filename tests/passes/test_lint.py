"""Lint warnings (valid but suspicious circuits) and the budgets of `pcc check`: each
warning's code, place and words, no warning on the examples, and the driver passing
them on in ``compiled.warnings``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pcdsl.diagnostics import CompileError, Severity
from pcdsl.driver import compile_file, compile_source
from pcdsl.ir.scope import runs_of
from pcdsl.passes.lint import (
    KRONECKER_WARNING,
    PARAMETER_WARNING,
    budget_errors,
    lint_model,
    uncovered_variables,
)

ROOT = Path(__file__).resolve().parents[2]
FILE = "spec.pc"


def model(*settings: str, data: str = "image(height = 4, width = 4, values = 3)"):
    """The one compiled model of a spec with ``settings``, one per line from line 3."""
    source = "model m {\n  data = " + data + "\n" + "".join(f"  {s}\n" for s in settings) + "}\n"
    return compile_source(source, FILE, fold=False).models[0]


def where(d) -> tuple[int, int]:
    assert d.span is not None and d.span.file == FILE
    return d.span.line, d.span.column


def codes(m) -> list[str]:
    return [d.code for d in lint_model(m.circuit, m.spec)]


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.pc")), ids=lambda p: p.name)
def test_examples_have_no_lint_warnings(path):
    compiled = compile_file(str(path), fold=False)
    for m in compiled.models:
        assert lint_model(m.circuit, m.spec) == ()
    assert compiled.warnings == ()


def test_a_small_sensible_model_has_no_warnings():
    assert codes(model("inputs = categorical(units = 4)", "layers = cp(units = 4)")) == []


def test_uncovered_variables():
    """The lowering of a hand-written structure rejects a root that leaves variables out,
    and built-in graphs cover every variable; so this lint is tested on a graph whose
    root was changed after the fact, as a new construction might build it."""
    m = model("inputs = categorical(units = 2)", "layers = cp(units = 2)")
    graph = m.circuit.region_graph
    root = graph.regions[graph.root]
    shrunk = runs_of(v for v in root.variables if v not in (0, 2))
    runs = tuple(shrunk if r == graph.root else runs for r, runs in enumerate(graph.runs))
    circuit = dataclasses.replace(m.circuit, region_graph=dataclasses.replace(graph, runs=runs))
    (d,) = uncovered_variables(circuit, m.spec)
    assert d.severity is Severity.WARNING and d.code == "coverage"
    assert "leaves 2 of 16 variables out: {x[0], x[2]}" in d.message
    assert uncovered_variables(m.circuit, m.spec) == ()


def test_parameter_explosion_points_at_the_layers():
    m = model("inputs = categorical(units = 4)", "layers = cp(units = 6000)")
    assert m.circuit.num_parameters > PARAMETER_WARNING
    (d,) = lint_model(m.circuit, m.spec)
    assert d.code == "size" and where(d) == (4, 12)
    assert f"{m.circuit.num_parameters:,} parameters" in d.message and "layers" in d.message


def test_parameter_explosion_in_the_inputs_points_at_the_inputs():
    m = model("inputs = categorical(units = 100000)", "layers = cp(units = 1000)",
              data="image(height = 2, width = 2, values = 10000)")
    (d,) = [d for d in lint_model(m.circuit, m.spec) if d.code == "size"]
    assert where(d) == (3, 12)
    assert "most of them in its inputs" in d.message


def test_wide_kronecker_products():
    m = model("regions = quad_tree(splits = 4)", "inputs = categorical(units = 20)",
              "layers = tucker(units = 20)")
    assert max(layer.num_units for layer in m.circuit.layers) > KRONECKER_WARNING
    (d,) = lint_model(m.circuit, m.spec)
    assert d.code == "size" and where(d) == (5, 12)
    assert "4 x 20 units, 160,000 units each" in d.message
    narrow = model("regions = quad_tree(splits = 4)", "inputs = categorical(units = 8)",
                   "layers = tucker(units = 8)")
    assert codes(narrow) == []


def test_one_unit_per_layer():
    (d,) = lint_model(*(lambda m: (m.circuit, m.spec))(model("layers = cp(units = 1)")))
    assert d.code == "degenerate" and where(d) == (3, 12)
    assert "1 unit" in d.message
    # A circuit without partitions has no sum-product layers to speak of.
    assert codes(model("layers = cp(units = 1)", data="image(height = 1, width = 1)")) == []


def test_a_region_graph_without_partitions():
    m = model("regions = random_binary_tree(depth = 0)", "inputs = categorical(units = 5)")
    (d,) = lint_model(m.circuit, m.spec)
    assert d.code == "degenerate" and where(d) == (3, 13)
    assert "one mixture of 5 fully factorised distributions over its 16 variables" in d.message
    assert codes(model("regions = poon_domingos(delta = 8)")) == ["degenerate"]
    # One variable: there is nothing to split.
    assert codes(model(data="image(height = 1, width = 1)")) == []


def test_a_region_split_twice_the_same_way():
    source = """model m {
  data = variables(count = 4, values = 2)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
  structure {
    region a = x[0] * x[1]
    region b = x[2] * x[3]
    region r = a * b | b * a
  }
}
"""
    compiled = compile_source(source, FILE)
    (d,) = compiled.warnings
    assert d.code == "redundant" and where(d) == (8, 24)
    assert "region 'r' is split twice into the same parts" in d.message


def test_the_driver_passes_lint_warnings_on_after_the_checker_s():
    source = ("const UNUSED = 1\nmodel m {\n  data = image(height = 2, width = 2)\n"
              "  layers = cp(units = 1)\n}\n")
    compiled = compile_source(source, FILE)
    assert [d.code for d in compiled.warnings] == ["unused", "degenerate"]
    # Warnings come along with the structure errors of another model, too.
    broken = source + ("model n { data = variables(count = 3, values = 2) structure {\n"
                       "  region a = x[0] * x[1]  region r = a * x[2] | x[0] * x[2] } }\n")
    with pytest.raises(CompileError) as info:
        compile_source(broken, FILE)
    assert [d.code for d in info.value.diagnostics] == ["not-smooth", "unused", "degenerate"]


def test_lint_is_pure():
    m = model("layers = cp(units = 1)")
    assert lint_model(m.circuit, m.spec) == lint_model(m.circuit, m.spec)


def test_budgets():
    m = model("inputs = categorical(units = 2)", "layers = cp(units = 2)")
    params, layers = m.circuit.num_parameters, len(m.circuit.layers)
    assert budget_errors(m.circuit, m.spec) == ()
    assert budget_errors(m.circuit, m.spec, max_parameters=params, max_layers=layers) == ()
    found = budget_errors(m.circuit, m.spec, max_parameters=params - 1, max_layers=layers - 1)
    assert [d.code for d in found] == ["budget", "budget"]
    assert all(d.severity is Severity.ERROR and d.span == m.spec.span for d in found)
    assert f"{params:,} parameters, more than the budget of {params - 1:,}" in found[0].message
    assert f"{layers:,} layers, more than the budget of {layers - 1:,}" in found[1].message
