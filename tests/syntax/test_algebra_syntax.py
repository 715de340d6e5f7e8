"""`model NAME = square(MODEL)` in the language: parsing, checking, located preconditions,
the formatter, `pcc info` and the language server's hover."""

from __future__ import annotations

import json

import pytest
import torch

from pcdsl.cli.main import main
from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source, emit_python
from pcdsl.lsp.analysis import analyse, definition, hover
from pcdsl.lsp.positions import Point
from pcdsl.runtime.loading import load_generated
from pcdsl.syntax import ast
from pcdsl.syntax.format import format_source
from pcdsl.syntax.parser import parse_source
from tests.reference import all_states

BASE = """model base {{
  data    = image(channels = 1, height = 2, width = 2, values = 2)
  regions = {regions}
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
  weights = none(init = normal(mean = 0.0, std = 0.5))
}}

"""
GOOD = BASE.format(regions="quad_tree(splits = 4)") + "model squared = square(base)\n"


def errors_of(source: str) -> list:
    with pytest.raises(CompileError) as raised:
        compile_source(source, "spec.pc")
    return [d for d in raised.value.diagnostics if d.is_error]


def test_parses_to_an_algebra_declaration():
    (decl,) = parse_source(GOOD, "spec.pc").algebra
    assert isinstance(decl, ast.AlgebraDecl) and decl.name.name == "squared"
    assert decl.value.function.name == "square"
    assert (decl.value.span.line, decl.value.span.column) == (9, 17)


def test_compiles_to_a_normalised_squared_model(tmp_path):
    compiled = compile_source(GOOD, "spec.pc")
    squared = compiled.model("squared")
    assert squared.algebra is not None and squared.algebra.operands == ("base",)
    assert compiled.model("base").algebra is None
    # The base's negative weights are what squaring is for: no warning about them.
    assert not [w for w in compiled.warnings if "negative" in w.message]
    path = tmp_path / "squared.py"
    path.write_text(emit_python(compiled, squared))
    circuit = load_generated(path).Circuit().double()
    with torch.no_grad():
        total = circuit(all_states(4, 2)).exp().sum()
    assert abs(float(total) - 1) < 1e-9


def test_a_base_that_cannot_be_squared_is_reported_at_the_operation():
    (found,) = errors_of(BASE.format(regions="quad_graph") + "model squared = square(base)\n")
    assert found.code == "not-structured"
    assert (found.span.line, found.span.column, found.span.end_column) == (9, 17, 29)
    assert "quad_graph is not structured-decomposable" in found.message
    assert found.hint == "use quad_tree"


@pytest.mark.parametrize("declaration,code,message,column,hint", [
    ("model squared = sqaure(base)", "unknown-name", "unknown operation 'sqaure'", 17,
     "did you mean 'square'?"),
    ("model squared = square(bsae)", "unknown-name", "unknown model 'bsae'", 24,
     "did you mean 'base'?"),
    ("model squared = square(base, base)", "arity", "'square' takes 1 model, found 2", 17, None),
    ("model squared = square(model = base)", "syntax", "'square' takes models, not named", 24,
     None),
    ("model squared = square(1 + 2)", "type", "expected the name of a model", 24, None),
    ("model base = square(base)", "duplicate", "model 'base' is defined twice", 7, None),
    ("model a = square(base)\nmodel b = square(a)", "unsupported", "'square' of 'a', which is "
     "itself made by an operation", 18, None),
])
def test_mistakes_are_located(declaration, code, message, column, hint):
    (found,) = errors_of(BASE.format(regions="quad_tree") + declaration + "\n")
    assert found.code == code and message in found.message
    assert found.span.column == column
    if hint is not None:
        assert hint in found.hint


def test_formatter_aligns_and_keeps_comments():
    source = (BASE.format(regions="quad_tree") + "model   sq=square( base )  # the square\n"
              "model longer = square(base)\n")
    formatted = format_source(source, "spec.pc")
    assert formatted.endswith("model sq     = square(base)  # the square\n"
                              "model longer = square(base)\n")
    assert format_source(formatted, "spec.pc") == formatted


def test_info_reports_the_algebra(tmp_path, capsys):
    spec = tmp_path / "spec.pc"
    spec.write_text(GOOD)
    assert main(["info", str(spec), "--model", "squared", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["model"] == "squared" and facts["is_normalised"] is True
    assert facts["algebra"] == {"operation": "square", "operands": ["base"], "num_gram_nodes": 10,
                                "num_gram_steps": 4, "largest_gram": [2, 2]}
    assert main(["info", str(spec), "--model", "base", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert base["algebra"] is None and base["is_normalised"] is False
    assert main(["info", str(spec), "--model", "squared"]) == 0
    assert "algebra:        square(base), Z from 10 Gram matrices in 4 steps" in capsys.readouterr().out


def test_hover_shows_size_and_properties_and_definition_finds_the_base():
    analysis = analyse(GOOD, "spec.pc")
    text, _ = hover(analysis, Point(8, 9))  # on 'squared'
    assert "square(base): p(x) = base(x)^2 / Z" in text and "10 Gram matrices" in text
    assert "- parameters: 34" in text and "structured-decomposable: yes" in text
    text, _ = hover(analysis, Point(8, 18))  # on 'square'
    assert text.startswith("**square**: operation")
    text, _ = hover(analysis, Point(8, 25))  # on 'base'
    assert text.startswith("**model base**")
    where = definition(analysis, Point(8, 25))
    assert (where.line, where.column) == (1, 7)


TWO = """model a {{
  data    = image(channels = 1, height = 2, width = 2, values = 2)
  regions = quad_tree(splits = 4)
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
}}

model b {{
  data    = {data}
  regions = {regions}
  inputs  = categorical(units = 3)
  layers  = {layers}
  {weights}
}}

model joint = multiply(a, b)
"""


def two(data: str = "image(channels = 1, height = 2, width = 2, values = 2)",
        regions: str = "quad_tree(splits = 4)", layers: str = "cp_t(units = 3)",
        weights: str = "") -> str:
    return TWO.format(data=data, regions=regions, layers=layers, weights=weights)


def test_multiply_compiles_to_a_normalised_product(tmp_path):
    compiled = compile_source(two(), "spec.pc")
    joint = compiled.model("joint")
    assert joint.algebra is not None and joint.algebra.operands == ("a", "b")
    assert joint.circuit.num_parameters == (compiled.model("a").circuit.num_parameters
                                            + compiled.model("b").circuit.num_parameters)
    path = tmp_path / "joint.py"
    path.write_text(emit_python(compiled, joint))
    module = load_generated(path)
    assert module.ALGEBRA == "multiply" and module.OPERANDS == ("a", "b")
    with torch.no_grad():
        total = module.Circuit().double()(all_states(4, 2)).exp().sum()
    assert abs(float(total) - 1) < 1e-9
    text, _ = hover(analyse(two(), "spec.pc"), Point(15, 8))  # on 'joint'
    assert "multiply(a, b): p(x) = a(x) b(x) / Z" in text


@pytest.mark.parametrize("arguments,message", [
    ({"regions": "quad_tree(splits = 2)"}, "multiply(a, b) needs compatible circuits"),
    ({"weights": "weights = none(init = normal(mean = 0.0, std = 0.5))"},
     "needs non-negative weights (a product of signed circuits can be negative), and 'b'"),
    ({"data": "image(channels = 1, height = 2, width = 2, values = 3)"},
     "needs two models over the same data"),
])
def test_multiply_preconditions_are_located(arguments, message):
    (found,) = errors_of(two(**arguments))
    assert found.code == "not-compatible" and message in found.message
    assert (found.span.line, found.span.column) == (16, 15)


def test_multiply_takes_two_models():
    (found,) = errors_of(two().replace("multiply(a, b)", "multiply(a)"))
    assert found.code == "arity" and "'multiply' takes 2 models, found 1" in found.message
    assert found.hint == "write 'multiply(MODEL, MODEL)'"
