"""The compiler's guards (size budget, finite numbers, nesting depth), found by fuzzing:
specs that used to hang, exhaust memory or end in an internal error now end in a
diagnostic at the text at fault, quickly."""

from __future__ import annotations

import time

import pytest

from pcdsl.diagnostics import CompileError, Diagnostic
from pcdsl.driver import compile_source, deepest_point, emit_python
from pcdsl.ir.budget import MAX_LAYERS, MAX_VARIABLES, estimated_layers

FILE = "spec.pc"


def rejected(source: str, seconds: float = 5.0) -> Diagnostic:
    start = time.perf_counter()
    with pytest.raises(CompileError) as info:
        compile_source(source, FILE)
    assert time.perf_counter() - start < seconds
    (first, *_) = info.value.diagnostics
    assert first.is_error and first.span is not None and first.span.file == FILE
    return first


def at(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None
    return d.span.line, d.span.column


# Sizes ------------------------------------------------------------------------------------

def test_a_huge_image_is_rejected_at_its_data_setting():
    d = rejected("model m {\n  data = image(1, 99999, 99999)\n}\n")
    assert d.code == "too-large" and at(d) == (2, 10)
    assert "9,999,800,001 variables" in d.message and f"{MAX_VARIABLES:,}" in d.message


def test_many_variables_with_a_small_structure_is_rejected_not_a_hang():
    """Used to hang: the coverage error listed 10^8 missing variables a bit at a time."""
    d = rejected("model m { data = variables(count = 100000000, values = 2)\n"
                 "  structure { region r = x[0] * x[1] } }\n")
    assert d.code == "too-large" and at(d) == (1, 18)


@pytest.mark.parametrize("regions", ["random_binary_tree(repetitions = 100000)",
                                     "linear_tree(repetitions = 5000)",
                                     "poon_domingos(delta = 1)"])
def test_region_graphs_that_would_be_huge_are_rejected_at_the_regions_setting(regions):
    """poon_domingos(delta = 1) on 28 x 28 pixels used to run for minutes (ten million
    layers); the others exhaust memory."""
    d = rejected(f"model m {{\n  data = image(height = 28, width = 28)\n  regions = {regions}\n}}\n")
    assert d.code == "too-large" and at(d) == (3, 13)
    assert f"{MAX_LAYERS:,}" in d.message


@pytest.mark.parametrize("regions", ["quad_graph", "quad_tree", "quad_tree(splits = 4)",
                                     "random_binary_tree(repetitions = 3)",
                                     "random_binary_tree(depth = 2)", "linear_tree(repetitions = 2)",
                                     "poon_domingos(delta = 1)", "poon_domingos(delta = 2)",
                                     "poon_domingos"])
@pytest.mark.parametrize("shape", ["channels = 1, height = 5, width = 7",
                                   "channels = 3, height = 4, width = 4"])
def test_the_layer_estimate_is_an_upper_bound_within_a_small_factor(regions, shape):
    source = f"model m {{ data = image({shape}) regions = {regions} }}"
    compiled = compile_source(source, FILE, fold=False)
    (m,) = compiled.models
    layers = len(m.circuit.layers)
    estimate = estimated_layers(m.spec)
    assert layers <= estimate <= 5 * layers + 100


def test_the_seed_model_is_far_from_the_limits():
    compiled = compile_source("model m { data = image(height = 28, width = 28) }", FILE, fold=False)
    assert estimated_layers(compiled.models[0].spec) < MAX_LAYERS // 50


# Numbers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1e999", "-1e999", "1e999 - 1e999", "1e999 * 0"])
def test_non_finite_floats_are_rejected_at_the_value(value):
    line = f"  weights = softmax(init = normal(std = 1.0, mean = {value})) }}\n"
    d = rejected("model m { data = image(height = 2, width = 2)\n" + line)
    assert d.code == "range" and "'mean' of 'normal' must be a finite number" in d.message
    assert at(d) == (2, line.index(value) + 1)


def test_finite_extremes_compile():
    compiled = compile_source("model m { data = image(height = 2, width = 2) "
                              "weights = softmax(init = normal(mean = 1e300, std = 1e-300)) }", FILE)
    text = emit_python(compiled, compiled.models[0])
    assert "1e+300" in text and "1e-300" in text


# Nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression", ["-" * 5000 + "1", "(" * 3000 + "1" + ")" * 3000,
                                        " + ".join(["1"] * 5000)])
def test_deep_expressions_are_a_diagnostic_not_a_recursion_error(expression):
    d = rejected(f"model m {{ data = image(height = 2, width = 2)\n  seed = {expression} }}\n")
    assert d.code == "too-deep"
    line, _ = at(d)
    assert line == 2


def test_a_long_chain_of_regions_declared_root_first_is_a_diagnostic():
    """The checker orders regions recursively: 1,500 regions, each using the next one."""
    n = 1500
    regions = " ".join(f"region r{i} = r{i + 1} * x[{i}]\n" for i in range(n))
    source = (f"model m {{ data = variables(count = {n + 2}, values = 2) structure {{\n"
              f"{regions} region r{n} = x[{n}] * x[{n + 1}] }} }}\n")
    d = rejected(source, seconds=30)
    assert d.code == "too-deep"


def test_deepest_point():
    assert deepest_point("a\n" + "b" * 50 + "\nc") == (2, 1)
    text = "x = 1\ny = " + "(" * 40 + "2" + ")" * 40
    assert deepest_point(text) == (2, 44)
    assert deepest_point("# (((((((\n" * 40 + "z") == (1, 1)


# Text -------------------------------------------------------------------------------------

def test_a_lone_surrogate_in_a_comment_compiles():
    """Editors may hand the language server such text; the digest must not fail on it."""
    compiled = compile_source("# \ud800\nmodel m { data = image(height = 2, width = 2) }", FILE)
    assert len(compiled.sha256) == 64
