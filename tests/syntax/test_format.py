"""The formatter (``pcc fmt``): one canonical layout, reached from any layout in one step
(idempotent), that keeps every comment and the meaning (the AST, modulo spans)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcdsl.diagnostics import CompileError, Span
from pcdsl.syntax import ast
from pcdsl.syntax.format import (
    INDENT,
    LINE,
    WIDTH,
    Align,
    Fill,
    FormatterBug,
    Text,
    _tokens,
    _verify,
    comment_texts,
    format_source,
    group,
    render,
    without_spans,
)
from pcdsl.syntax.parser import parse_concrete, parse_source, parse_with_comments

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.pc"))

# Everything the grammar has: file and model constants, arithmetic with parentheses and
# negation, strings with escapes, numbers in every form, positional and named arguments,
# a trailing comma, a call without arguments, a structure block with several partitions.
EVERYTHING = """\
const UNITS = 64
const MEAN = -(1 + 1) / 4
const MIXED = ((UNITS + UNITS / 2)) / 3 - -2 * (1 - (2 - 3))
const TEXT = "a # not a comment \\" \\\\ \\n \\t"
const FORMS = 1. + .5 + 1e-3 + 2.5E+2 + 007
model everything {
  const HALF = UNITS / 2
  data = image(1, 28, width = 28,)
  inputs = categorical(HALF)
  weights = softmax(normal(0.0, .5))
  regions = quad_tree()
  structure {
    region ab = x[0] * x[1]
    region root = ab * x[UNITS - 63] | x[(2)] * x[3] * x[0] * x[1] | ab * x[2] * x[3]
  }
}
"""


def spec_blocks(document: str) -> list[str]:
    """The code blocks of a Markdown file in docs/ that parse as specs."""
    text = (ROOT / "docs" / document).read_text(encoding="utf-8")
    blocks = []
    for block in re.findall(r"```\n(.*?)```", text, flags=re.DOTALL):
        try:
            parse_source(block)
        except CompileError:
            continue
        blocks.append(block)
    return blocks


SOURCES = ([path.read_text(encoding="utf-8") for path in EXAMPLES] + [EVERYTHING]
           + spec_blocks("language.md") + spec_blocks("editors.md"))


def fmt(text: str) -> str:
    return format_source(text, "spec.pc")


def assert_same_meaning(before: str, after: str) -> None:
    old_tree, old_comments = parse_with_comments(before)
    new_tree, new_comments = parse_with_comments(after)
    assert without_spans(new_tree) == without_spans(old_tree)
    assert comment_texts(new_comments) == comment_texts(old_comments)


# The examples are canonical ------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_already_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text


def test_the_examples_use_the_canonical_indent() -> None:
    # The layout was chosen to be the one the examples (and docs) are written in.
    assert INDENT == 2
    assert any(line.startswith("  region ") or line.startswith("    region ")
               for path in EXAMPLES for line in path.read_text().splitlines())


def test_the_layout_shown_in_docs_editors_is_canonical() -> None:
    blocks = spec_blocks("editors.md")
    assert blocks
    for block in blocks:
        assert fmt(block) == block


@pytest.mark.parametrize("index", range(len(SOURCES)))
def test_idempotent_and_faithful_on_known_sources(index: int) -> None:
    text = SOURCES[index]
    once = fmt(text)
    assert fmt(once) == once
    assert_same_meaning(text, once)


# Ugly layouts become the canonical one --------------------------------------------------

def test_one_line_model_is_spread_one_setting_per_line_with_aligned_equals() -> None:
    text = "model tiny { data=image(height=2,width=2) layers=cp( units = 8, ) }"
    assert fmt(text) == (
        "model tiny {\n"
        "  data   = image(height = 2, width = 2)\n"
        "  layers = cp(units = 8)\n"
        "}\n")


def test_indentation_and_spacing_are_normalised() -> None:
    text = ("const   U=64\n"
            "model m {\n"
            "\tdata = image( height = 28 , width = 28 )\n"
            "        layers =cp(units=U*2)\n"
            "            structure{region a=x [0]*x[ 1 ]  region  root = a*x[2]|x[0]*x[1]*x[2]}\n"
            "}")
    assert fmt(text) == (
        "const U = 64\n"
        "model m {\n"
        "  data   = image(height = 28, width = 28)\n"
        "  layers = cp(units = U * 2)\n"
        "  structure {\n"
        "    region a    = x[0] * x[1]\n"
        "    region root = a * x[2] | x[0] * x[1] * x[2]\n"
        "  }\n"
        "}\n")


def test_alignment_runs_stop_at_blank_lines_and_other_kinds_of_item() -> None:
    text = ("const A = 1\nconst LONGER = 2\n\nconst B = 3\n"
            "model m {\n  const HALF = 2\n  data = image(height = 2, width = 2)\n"
            "  weights = softmax\n\n  seed = 1\n}\n")
    assert fmt(text) == (
        "const A      = 1\nconst LONGER = 2\n\nconst B = 3\n"
        "model m {\n  const HALF = 2\n  data    = image(height = 2, width = 2)\n"
        "  weights = softmax\n\n  seed = 1\n}\n")


def test_blank_lines_are_kept_at_most_one_and_never_at_block_edges() -> None:
    text = "\n\n\nconst A = 1\n\n\n\nmodel m {\n\n\n  data = image(height = 2, width = 2)\n\n\n}\n\n\n"
    assert fmt(text) == "const A = 1\n\nmodel m {\n  data = image(height = 2, width = 2)\n}\n"


def test_numbers_and_strings_are_printed_as_written() -> None:
    text = 'const A = 1.+.5*1e-3/2.5E+2-007\nconst S = "x\\"y\\\\z\\n\\t"\n'
    assert fmt(text) == 'const A = 1. + .5 * 1e-3 / 2.5E+2 - 007\nconst S = "x\\"y\\\\z\\n\\t"\n'


def test_parentheses_are_kept_as_written() -> None:
    assert fmt("const A = (1+2)*3\nconst B = 1+(2*3)\nconst C = -(-1)") == (
        "const A = (1 + 2) * 3\nconst B = 1 + (2 * 3)\nconst C = -(-1)\n")


def test_a_long_call_fills_lines_aligned_after_its_parenthesis() -> None:
    text = ("model m { weights = softmax(init = normal(mean = 0.000000000000000000000000000001, "
            "std = 1.00000000000000000000000000000)) }")
    assert fmt(text) == (
        "model m {\n"
        "  weights = softmax(init = normal(mean = 0.000000000000000000000000000001,\n"
        "                                  std = 1.00000000000000000000000000000))\n"
        "}\n")


def test_a_call_that_fits_is_joined_whatever_its_input_layout() -> None:
    text = "model m {\n  data = image(\n    height = 28,\n    width = 28,\n  )\n}\n"
    assert fmt(text) == "model m {\n  data = image(height = 28, width = 28)\n}\n"


def test_filling_puts_as_many_arguments_on_a_line_as_fit() -> None:
    arguments = ", ".join(f"option_{i} = {i}" for i in range(12))
    formatted = fmt(f"model m {{ inputs = kind({arguments}) }}")
    lines = formatted.splitlines()[1:-1]
    assert len(lines) == 3
    assert all(len(line) <= WIDTH for line in lines)
    column = len("  inputs = kind(")
    for line, following in zip(lines, lines[1:]):
        assert following.startswith(" " * column + "option_")
        first = following.strip().split(", ")[0]
        assert len(line) + 1 + len(first) + 1 > WIDTH  # it did not fit on the line above


def test_a_long_region_has_one_partition_per_line_under_the_equals_sign() -> None:
    operands = " * ".join(f"x[{i}]" for i in range(14))
    text = f"model m {{ structure {{ region r = {operands} | {operands} }} }}"
    assert fmt(text) == (
        "model m {\n  structure {\n"
        f"    region r = {operands}\n"
        f"             | {operands}\n"
        "  }\n}\n")


def test_empty_blocks_and_calls_stay_on_one_line() -> None:
    assert fmt("model e { }\nmodel f { structure { } regions = quad_graph( ) }") == (
        "model e {}\nmodel f {\n  structure {}\n  regions = quad_graph()\n}\n")


def test_empty_and_blank_files() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# only a comment") == "# only a comment\n"


def test_windows_line_endings_and_trailing_whitespace_are_removed() -> None:
    text = ("# header   \r\nconst A = 1  # one \t\r\n"
            "model m {\r\n  data = image(height = 2, width = 2)\r\n}\r\n")
    assert fmt(text) == ("# header\nconst A = 1  # one\nmodel m {\n"
                         "  data = image(height = 2, width = 2)\n}\n")


# Comments ------------------------------------------------------------------------------

def test_whole_line_and_trailing_comments_are_kept_in_place() -> None:
    text = ("# file header\n\n"
            "const UNITS=64 # units\n"
            "# about the model\n"
            "model m {   # the model\n"
            "  # the data\n"
            "  data=image(height=2,width=2)\n"
            "  layers=cp(units=UNITS)  # layers\n"
            "}\n"
            "# the end\n")
    assert fmt(text) == (
        "# file header\n\n"
        "const UNITS = 64  # units\n"
        "# about the model\n"
        "model m {  # the model\n"
        "  # the data\n"
        "  data   = image(height = 2, width = 2)\n"
        "  layers = cp(units = UNITS)  # layers\n"
        "}\n"
        "# the end\n")


def test_trailing_comments_of_consecutive_lines_are_aligned() -> None:
    text = "const UNITS = 64\nconst MEAN = -(1 + 1) / 4 # -0.5\nconst MIXED = (UNITS + UNITS / 2) / 3 # 32\n"
    assert fmt(text) == (
        "const UNITS = 64\n"
        "const MEAN  = -(1 + 1) / 4             # -0.5\n"
        "const MIXED = (UNITS + UNITS / 2) / 3  # 32\n")


def test_a_comment_inside_a_call_ends_its_line_and_the_rest_is_aligned() -> None:
    text = ("model m {\n"
            "  data = image(height = 28, # rows\n"
            "               width = 28)  # columns\n"
            "}\n")
    assert fmt(text) == (
        "model m {\n"
        "  data = image(height = 28,  # rows\n"
        "               width = 28)   # columns\n"
        "}\n")


def test_a_comment_before_a_comma_goes_after_it() -> None:
    text = "model m {\n  data = image(height = 28 # rows\n  , width = 28)\n}\n"
    assert fmt(text) == (
        "model m {\n  data = image(height = 28,  # rows\n               width = 28)\n}\n")


def test_the_comments_of_a_dropped_trailing_comma_are_kept() -> None:
    text = "model m {\n  data = image(height = 28, width = 28, # columns\n  )\n}\n"
    once = fmt(text)
    assert once == (
        "model m {\n  data = image(height = 28, width = 28  # columns\n               )\n}\n")
    assert fmt(once) == once


def test_own_line_comments_in_calls_and_dangling_comments_in_blocks() -> None:
    text = ("model m {\n"
            "  inputs = categorical(\n"
            "  # how many\n"
            "  units = 4\n"
            "  # nothing after\n"
            "  )\n"
            "  structure {\n"
            "    region r = x[0] * x[1]\n\n"
            "    # more regions later\n"
            "  }\n"
            "  # end of the model\n"
            "}\n")
    assert fmt(text) == (
        "model m {\n"
        "  inputs = categorical(\n"
        "                       # how many\n"
        "                       units = 4\n"
        "                       # nothing after\n"
        "                       )\n"
        "  structure {\n"
        "    region r = x[0] * x[1]\n\n"
        "    # more regions later\n"
        "  }\n"
        "  # end of the model\n"
        "}\n")


def test_comments_between_partitions_break_the_region_at_the_bars() -> None:
    text = ("model m { structure {\n"
            "  region root = a * b   # first split\n"
            "              | c * d   # second split\n"
            "} }\n")
    assert fmt(text) == (
        "model m {\n  structure {\n"
        "    region root = a * b  # first split\n"
        "                | c * d  # second split\n"
        "  }\n}\n")


def test_a_comment_in_arithmetic_ends_its_line() -> None:
    text = "const A = 1 + # one\n 2 * # two\n 3\n"
    once = fmt(text)
    assert once == "const A = 1 +  # one\n  2 *          # two\n  3\n"
    assert fmt(once) == once


def test_hash_inside_a_string_is_not_a_comment() -> None:
    text = 'const S = "# not a comment"   # a comment\n'
    assert fmt(text) == 'const S = "# not a comment"  # a comment\n'
    assert comment_texts(parse_with_comments(text)[1]) == ["# a comment"]


# Random layouts of every source: whitespace, blank lines and comments between any tokens

_GAPS = (" ", " ", "\n", "\n\n", "\t ",
         "  # trailing {n}\n", "\n# own line {n}\n", "\n\n# after a blank {n}\n\n")


def relayout(text: str, gaps: list[int]) -> str:
    tree, _ = parse_concrete(text)
    pieces = []
    for index, token in enumerate(_tokens(tree)):
        choice = gaps[index % len(gaps)] if gaps else 0
        pieces.extend((str(token), _GAPS[choice].format(n=index)))
    return "".join(pieces)


@settings(max_examples=200, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES),
       gaps=st.lists(st.integers(0, len(_GAPS) - 1), min_size=1, max_size=60))
def test_any_layout_formats_idempotently_keeping_comments_and_meaning(source: str, gaps: list[int]) -> None:
    text = relayout(source, gaps)
    once = fmt(text)
    assert fmt(once) == once
    assert_same_meaning(text, once)


@settings(max_examples=80, deadline=None, database=None, derandomize=True)
@given(source=st.sampled_from(SOURCES), gaps=st.lists(st.sampled_from([0, 2, 4]), min_size=1, max_size=40))
def test_the_input_layout_does_not_leak_into_the_output(source: str, gaps: list[int]) -> None:
    # Spaces, tabs and line breaks (but no blank lines, which are kept, and no comments)
    # anywhere between tokens: every such layout formats to the same text.
    assert fmt(relayout(source, gaps)) == fmt(relayout(source, [0]))


# Errors and the self-check ---------------------------------------------------------------

def test_a_syntax_error_is_the_parsers_diagnostic() -> None:
    text = "model m {\n  data = image(height = 2,, width = 2)\n}\n"
    with pytest.raises(CompileError) as formatted:
        format_source(text, "bad.pc")
    with pytest.raises(CompileError) as parsed:
        parse_source(text, "bad.pc")
    assert formatted.value.diagnostics == parsed.value.diagnostics
    (diagnostic,) = formatted.value.diagnostics
    assert diagnostic.span == Span("bad.pc", 2, 27, 2, 28)


def test_the_self_check_refuses_a_change_of_meaning_or_comments() -> None:
    with pytest.raises(FormatterBug, match="meaning"):
        _verify("const A = 1 - 2 - 3", "const A = 1 - (2 - 3)", "spec.pc")
    with pytest.raises(FormatterBug, match="comments"):
        _verify("const A = 1  # one", "const A = 1", "spec.pc")
    with pytest.raises(FormatterBug, match="does not parse"):
        _verify("const A = 1", "const A = ", "spec.pc")
    _verify("const A = 1 # one", "const A = 1  # one\n", "spec.pc")


# The parts: comment collection and the document printer ----------------------------------

def test_parse_with_comments_returns_the_same_ast_and_every_comment() -> None:
    text = ('# a\nconst A = 1 # b\nconst S = "# c"\n'
            'model m { # d\n  data = image(height = 2, width = 2) }\n# e')
    tree, comments = parse_with_comments(text, "spec.pc")
    assert tree == parse_source(text, "spec.pc")
    assert [c.text for c in comments] == ["# a", "# b", "# d", "# e"]
    assert comments[1] == ast.Comment("# b", Span("spec.pc", 2, 13, 2, 16))


def test_comment_collection_does_not_leak_between_parses() -> None:
    parse_with_comments("# one\nconst A = 1")
    _, comments = parse_with_comments("const B = 2")
    assert comments == ()
    with pytest.raises(CompileError):
        parse_with_comments("# two\nconst = ")
    assert parse_with_comments("const C = 3 # three")[1][0].text == "# three"


def test_render_keeps_a_group_flat_when_it_fits_and_fills_it_otherwise() -> None:
    call = group(Text("f("), Align((Fill((Text("aa,"), LINE, Text("bb,"), LINE, Text("cc"))), Text(")"))))
    assert render(call, width=20) == "f(aa, bb, cc)\n"
    assert render(call, width=10) == "f(aa, bb,\n  cc)\n"
    assert render(call, width=6) == "f(aa,\n  bb,\n  cc)\n"
