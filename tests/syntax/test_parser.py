"""Parsing: ``.pc`` text to the typed AST with exact spans, and syntax errors that say
where the mistake is and what was expected there."""

from __future__ import annotations

import pytest

from pcdsl.diagnostics import CompileError, Diagnostic, Severity, Span, render
from pcdsl.syntax import ast
from pcdsl.syntax.parser import parse_source

FILE = "spec.pc"

# Line numbers matter below: the spans are pinned to this exact text.
SOURCE = """\
# A leading comment.
const U = 32  # a trailing comment
model mnist {
  data = image(height = 28, width = 28)
  layers = cp(units = U * 2)
}
model tiny {
  data = variables(count = 4, values = 2)
  structure {
    region left = x[0] * x[1]
    region root = left * x[2] * x[3] | x[0] * x[3]
  }
}
"""


def parse(text: str) -> ast.SpecFile:
    return parse_source(text, FILE)


def syntax_error(text: str) -> Diagnostic:
    """The single diagnostic of a text that does not parse."""
    with pytest.raises(CompileError) as info:
        parse(text)
    diagnostics = info.value.diagnostics
    assert len(diagnostics) == 1, diagnostics
    (diagnostic,) = diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.code == "syntax"
    return diagnostic


def at(line: int, column: int, end_line: int, end_column: int) -> Span:
    return Span(FILE, line, column, end_line, end_column)


# The AST and its spans ---------------------------------------------------------------

def test_top_level_items_in_order():
    spec = parse(SOURCE)
    assert spec.path == FILE
    assert [type(item) for item in spec.items] == [ast.ConstDecl, ast.ModelDecl, ast.ModelDecl]
    assert [c.name.name for c in spec.constants] == ["U"]
    assert [m.name.name for m in spec.models] == ["mnist", "tiny"]


def test_span_of_model_name():
    mnist = parse(SOURCE).models[0]
    assert mnist.name.name == "mnist"
    assert mnist.name.span == at(3, 7, 3, 12)
    # The declaration runs from `model` to its closing brace.
    assert mnist.span == at(3, 1, 6, 2)


def test_span_of_setting_key_and_setting():
    data = parse(SOURCE).models[0].items[0]
    assert isinstance(data, ast.Setting)
    assert data.key.name == "data"
    assert data.key.span == at(4, 3, 4, 7)
    assert data.span == at(4, 3, 4, 40)


def test_span_and_value_of_numbers():
    const = parse(SOURCE).constants[0]
    assert const.name.span == at(2, 7, 2, 8)
    assert isinstance(const.value, ast.Number)
    assert const.value.value == 32 and isinstance(const.value.value, int)
    assert const.value.text == "32"
    assert const.value.span == at(2, 11, 2, 13)
    # The trailing comment is not part of the declaration.
    assert const.span == at(2, 1, 2, 13)


def test_span_of_call_and_its_arguments():
    call = parse(SOURCE).models[0].items[0].value
    assert isinstance(call, ast.Call)
    assert call.function.name == "image"
    assert call.function.span == at(4, 10, 4, 15)
    assert call.span == at(4, 10, 4, 40)  # through the closing parenthesis
    height, width = call.arguments
    assert height.name is not None and height.name.name == "height"
    assert height.name.span == at(4, 16, 4, 22)
    assert height.value == ast.Number(28, "28", at(4, 25, 4, 27))
    assert width.name is not None and width.name.name == "width"
    assert width.span == at(4, 29, 4, 39)


def test_arithmetic_builds_binary_operations():
    layers = parse(SOURCE).models[0].items[1]
    (units,) = layers.value.arguments
    product = units.value
    assert isinstance(product, ast.BinaryOp)
    assert product.operator == "*"
    assert isinstance(product.left, ast.Name) and product.left.identifier.name == "U"
    assert product.right == ast.Number(2, "2", at(5, 27, 5, 28))
    assert product.span == at(5, 23, 5, 28)


def test_operator_precedence_and_negation():
    (const,) = parse("const A = 1 + 2 * -3").constants
    total = const.value
    assert isinstance(total, ast.BinaryOp) and total.operator == "+"
    assert isinstance(total.right, ast.BinaryOp) and total.right.operator == "*"
    assert isinstance(total.right.right, ast.Negate)
    assert total.right.right.operand.value == 3


def test_number_literals_keep_int_and_float_apart():
    spec = parse("const A = 7\nconst B = 2.5\nconst C = 1e3\nconst D = .5\nconst E = 2.")
    values = [c.value.value for c in spec.constants]
    assert values == [7, 2.5, 1000.0, 0.5, 2.0]
    assert [type(v) for v in values] == [int, float, float, float, float]


def test_string_escapes():
    (const,) = parse(r'const S = "a \"b\" # not a comment\n"').constants
    assert const.value == ast.String('a "b" # not a comment\n', const.value.span)


def test_span_of_region_declaration():
    structure = parse(SOURCE).models[1].items[1]
    assert isinstance(structure, ast.StructureBlock)
    assert structure.span == at(9, 3, 12, 4)
    left, root = structure.regions
    assert left.name.name == "left"
    assert left.name.span == at(10, 12, 10, 16)
    assert left.span == at(10, 5, 10, 30)
    assert root.span == at(11, 5, 11, 51)
    assert len(root.partitions) == 2
    assert root.partitions[0].span == at(11, 19, 11, 37)
    assert root.partitions[1].span == at(11, 40, 11, 51)


def test_span_of_variable_and_region_references():
    root = parse(SOURCE).models[1].items[1].regions[1]
    first, _, x3 = root.partitions[0].operands
    assert isinstance(first, ast.RegionRef)
    assert first.identifier.name == "left"
    assert first.span == at(11, 19, 11, 23)
    assert isinstance(x3, ast.VariableRef)
    assert x3.identifier.name == "x"
    assert x3.span == at(11, 33, 11, 37)  # `x[3]`, brackets included
    assert x3.index == ast.Number(3, "3", at(11, 35, 11, 36))


def test_binary_expression_with_parenthesised_operand_spans_the_parentheses():
    # `64 / (2 - 2)` must be underlined as a whole, not cut before its last `)`.
    (const,) = parse("const A = 64 / (2 - 2)").constants
    assert isinstance(const.value, ast.BinaryOp)
    assert const.value.span == at(1, 11, 1, 23)


def test_comments_are_ignored():
    commented = parse(
        "# header\n"
        "model m { # after a brace\n"
        "  # a whole line\n"
        "  data = image(height = 2, # inside a call\n"
        "               width = 2) # after a value\n"
        "} # after the model\n"
        "# trailer without newline"
    )
    plain = parse("model m { data = image(height = 2, width = 2) }")
    assert len(commented.items) == len(plain.items) == 1
    model = commented.models[0]
    assert [type(i) for i in model.items] == [ast.Setting]
    call = model.items[0].value
    assert [(a.name.name, a.value.value) for a in call.arguments] == [("height", 2), ("width", 2)]
    assert call.arguments[1].name.span == at(5, 16, 5, 21)


def test_empty_file_and_comment_only_file_parse_to_nothing():
    assert parse("").items == ()
    assert parse("# nothing here\n\n").items == ()


def test_several_models_and_constants_in_one_file():
    spec = parse(
        "const A = 1\n"
        "model first { data = image(height = 2, width = 2) }\n"
        "const B = 2\n"
        "model second { const C = 3 data = image(height = A, width = B) seed = C }\n"
    )
    assert [type(i).__name__ for i in spec.items] == ["ConstDecl", "ModelDecl", "ConstDecl",
                                                      "ModelDecl"]
    assert [m.name.name for m in spec.models] == ["first", "second"]
    second = spec.models[1]
    assert [type(i).__name__ for i in second.items] == ["ConstDecl", "Setting", "Setting"]
    assert second.name.span == at(4, 7, 4, 13)


# Syntax errors ------------------------------------------------------------------------

MISSING_COMMA = "model m {\n  data = image(height = 2 width = 2)\n}\n"


def test_unexpected_token_points_at_it_and_lists_what_was_expected():
    diagnostic = syntax_error(MISSING_COMMA)
    assert diagnostic.message == "unexpected 'width'"
    assert diagnostic.span == at(2, 27, 2, 32)
    assert diagnostic.hint is not None
    assert diagnostic.hint.startswith("expected ")
    assert "','" in diagnostic.hint and "')'" in diagnostic.hint


def test_missing_equals_sign():
    diagnostic = syntax_error("model m {\n  data image(height = 2)\n}\n")
    assert diagnostic.message == "unexpected 'image'"
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 8)
    assert diagnostic.hint == "expected '='"


def test_unexpected_character():
    diagnostic = syntax_error("model m {\n  data @ 3\n}\n")
    assert diagnostic.message == "unexpected character '@'"
    assert diagnostic.span == at(2, 8, 2, 9)
    assert diagnostic.hint == "expected '='"


def test_single_quoted_string_says_strings_use_double_quotes():
    diagnostic = syntax_error("model m {\n  data = image(name = 'abc')\n}\n")
    assert "unexpected character" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 23)
    assert "double quotes" in diagnostic.hint


def test_unexpected_end_of_file():
    diagnostic = syntax_error("model m {\n  data = image(height = 2, width = 2)\n")
    assert diagnostic.message == "unexpected end of file"
    # Just past the last character of the last line.
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 38)
    assert diagnostic.hint is not None and "'}'" in diagnostic.hint


def test_misspelt_keyword_at_top_level():
    diagnostic = syntax_error("modle m {}\n")
    assert diagnostic.message == "unknown keyword 'modle'"
    assert diagnostic.span == at(1, 1, 1, 6)
    assert "did you mean 'model'?" in diagnostic.hint


def test_misspelt_const_at_top_level():
    diagnostic = syntax_error("cosnt X = 1\n")
    assert diagnostic.message == "unknown keyword 'cosnt'"
    assert "did you mean 'const'?" in diagnostic.hint


def test_misspelt_structure_inside_a_model():
    diagnostic = syntax_error(
        "model m {\n  data = variables(count = 2, values = 2)\n  strucutre {\n  }\n}\n")
    assert diagnostic.message == "unknown keyword 'strucutre'"
    assert diagnostic.span == at(3, 3, 3, 12)
    assert "did you mean 'structure'?" in diagnostic.hint


def test_misspelt_region_inside_a_structure_block():
    diagnostic = syntax_error(
        "model m {\n  data = variables(count = 2, values = 2)\n"
        "  structure {\n    regon r = x[0] * x[1]\n  }\n}\n")
    assert diagnostic.message == "unknown keyword 'regon'"
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 5)
    assert "did you mean 'region'?" in diagnostic.hint


# Rendering ----------------------------------------------------------------------------

def test_render_location_source_line_caret_and_help():
    diagnostic = syntax_error(MISSING_COMMA)
    lines = render(diagnostic, {FILE: MISSING_COMMA}).splitlines()
    assert lines[0] == "spec.pc:2:27: error: unexpected 'width'"
    source_line = "  data = image(height = 2 width = 2)"
    assert lines[1].endswith(source_line)
    assert lines[1].split("|")[0].strip() == "2"  # the gutter shows the line number
    caret = lines[2]
    start = caret.index("^")
    # The caret sits under the token, underlining all of it.
    assert lines[1][start:start + len("width")] == "width"
    assert caret.strip() == "^" * len("width")
    assert lines[3].startswith("  = help: expected ")
    assert len(lines) == 4


def test_render_aligns_caret_after_a_tab():
    text = "model m {\n\tdata = image(height = 2 width = 2)\n}\n"
    lines = render(syntax_error(text), {FILE: text}).splitlines()
    start = lines[2].index("^")
    assert lines[1][start:start + len("width")] == "width"


def test_render_without_source_text_gives_location_and_help_only():
    lines = render(syntax_error(MISSING_COMMA)).splitlines()
    assert lines == ["spec.pc:2:27: error: unexpected 'width'", "  = help: expected ')' or ','"]
