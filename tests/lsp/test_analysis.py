"""The language server's answers in-process: positions, the completion context read from
half-typed text, hover, definition and completion, and that none of them fails on any
text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcdsl.diagnostics import Span
from pcdsl.lsp import analysis, docs
from pcdsl.lsp.context import context_at, word_at
from pcdsl.lsp.positions import (
    UTF8,
    UTF16,
    UTF32,
    Point,
    from_client,
    normalize_newlines,
    span_points,
    split_lines,
    to_client,
)
from pcdsl.syntax import schema
from pcdsl.syntax.parser import KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
MNIST = (ROOT / "examples" / "mnist.pc").read_text(encoding="utf-8")
HAND_WRITTEN = (ROOT / "examples" / "hand_written.pc").read_text(encoding="utf-8")

SCOPES = """\
const U = 1
model a {
  const U = 2
  data = image(height = U, width = 2)
}
model b {
  data = image(height = U, width = 2)
}
"""


def point_of(text: str, needle: str, occurrence: int = 0, shift: int = 0) -> Point:
    """The point of the ``occurrence``-th ``needle`` in ``text`` (plus ``shift`` characters)."""
    offset = -1
    for _ in range(occurrence + 1):
        offset = text.index(needle, offset + 1)
    offset += shift
    line = text.count("\n", 0, offset)
    return Point(line, offset - (text.rfind("\n", 0, offset) + 1))


# Positions -----------------------------------------------------------------------------

def test_spans_become_zero_based_points():
    assert span_points(3, 23, 3, 24) == (Point(2, 22), Point(2, 23))
    assert span_points(1, 1, 1, 1) == (Point(0, 0), Point(0, 0))


def test_code_units_of_each_encoding():
    lines = split_lines('x = "\N{GRINNING FACE}\N{LATIN SMALL LETTER E WITH ACUTE}" + 1')
    after = Point(0, 7)  # after the closing quote
    assert to_client(lines, after, UTF32) == (0, 7)
    assert to_client(lines, after, UTF16) == (0, 8)
    assert to_client(lines, after, UTF8) == (0, 11)
    for encoding in (UTF8, UTF16, UTF32):
        line, units = to_client(lines, after, encoding)
        assert from_client(lines, line, units, encoding) == after


def test_positions_are_clamped_into_the_text():
    lines = split_lines("ab\ncd")
    assert to_client(lines, Point(9, 9)) == (1, 2)
    assert from_client(lines, 9, 99) == Point(1, 2)
    assert from_client(lines, 9, 0) == Point(1, 2)  # past the last line: the end of the text
    assert from_client(lines, 0, 9) == Point(0, 2)  # past the end of its line: the end of the line
    assert from_client(lines, -1, -1) == Point(0, 0)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_lsp_line_terminator_ends_a_line(newline):
    # The LSP's terminators are \n, \r\n and \r; each is one line break, and no character of a line.
    text = newline.join(["# a", "bc", "", "d"]) + newline
    assert split_lines(normalize_newlines(text)) == ["# a", "bc", "", "d", ""]


def test_only_the_lsp_line_terminators_end_a_line():
    # \r\n is one break, \n\r two; form feeds and Unicode separators are characters of their line.
    assert split_lines(normalize_newlines("a\r\nb\n\rc\f\u2028\x85d")) == ["a", "b", "", "c\f\u2028\x85d"]


# The completion context ------------------------------------------------------------------

@pytest.mark.parametrize("text, place, detail", [
    ("", "top", None),
    ("model m {\n  ", "model", None),
    ("model m {\n  data = ", "value", "data"),
    ("model m {\n  data = image(", "argument", "image"),
    ("model m {\n  weights = softmax(init = ", "option_value", "softmax"),
    ("model m {\n  data = image(height = 2) ", "model", None),
    ("model m { structure { ", "structure", None),
    ("model m { structure { region a = b * ", "partition", None),
    ("const A = ", "expression", None),
    ("model m { # a comment ", "none", None),
    ('model m { data = "a string ', "none", None),
    ("model ", "none", None),
    ("model m {} ", "top", None),
])
def test_context_at_the_end_of_half_typed_text(text, place, detail):
    context = context_at(text, len(text))
    assert context.place == place
    if place == "value":
        assert context.setting == detail
    if place in ("argument", "option_value"):
        assert context.call == detail


def test_context_knows_what_is_already_given():
    text = "model m {\n  data = image(height = 2, width = 3, "
    context = context_at(text, len(text))
    assert context.used == frozenset({"height", "width"})
    assert context.position == 2
    text = "model m {\n  data = image(height = 2, width = 3)\n  layers = cp\n  re"
    context = context_at(text, len(text))
    assert (context.place, context.prefix) == ("model", "re")
    assert context.used == frozenset({"data", "layers"})


def test_word_at_skips_comments_and_strings():
    text = 'const A = 1  # cp here\nconst S = "cp"\nmodel cp_model {}'
    assert word_at(text, text.index("cp here")) is None
    assert word_at(text, text.index('cp"')) is None
    assert word_at(text, text.index("cp_model") + 3).text == "cp_model"
    assert word_at(text, text.index("cp_model") + len("cp_model")).text == "cp_model"


# Diagnostics -----------------------------------------------------------------------------

def test_analyse_collects_structure_errors_and_warnings():
    text = ("const UNUSED = 1\nmodel bad {\n  data = variables(count = 3, values = 2)\n"
            "  structure {\n    region ab = x[0] * x[1]\n    region root = ab * x[2] | x[0] * x[2]\n  }\n}\n")
    result = analysis.analyse(text, "bad.pc")
    assert result.compiled is not None  # the model is described even though it is not smooth
    codes = sorted((d.severity.value, d.message.split(":")[0]) for d in result.diagnostics)
    assert [severity for severity, _ in codes] == ["error", "warning"]
    assert "not smooth" in next(d.message for d in result.diagnostics if d.is_error)


def test_analyse_never_raises_on_a_syntax_error():
    result = analysis.analyse("model m {", "bad.pc")
    assert result.tree is None and result.compiled is None
    assert [d.code for d in result.diagnostics] == ["syntax"]


# Hover -----------------------------------------------------------------------------------

def test_hover_on_a_model_reports_the_compilers_facts():
    result = analysis.analyse(MNIST, "mnist.pc")
    markdown, span = analysis.hover(result, point_of(MNIST, "mnist {"))
    assert "parameters: 25,657,730" in markdown
    assert "structured-decomposable: no" in markdown
    assert span.line == MNIST.splitlines().index("model mnist {") + 1


def test_hover_on_a_model_of_a_file_with_errors_says_so():
    text = "model m {\n  data = image(height = 2, width = 2)\n  layers = cp(units = 0)\n}\n"
    markdown, _ = analysis.hover(analysis.analyse(text, "bad.pc"), Point(0, 6))
    assert "not compiled" in markdown and "1 error" in markdown


def test_hover_on_every_kind_setting_and_keyword_comes_from_the_schema():
    for kind in schema.KINDS:
        assert kind.doc in docs.word_markdown(kind.name)
        for option in kind.options:
            assert option.doc in docs.kind_markdown(kind)
    for setting in schema.SETTINGS:
        assert setting.doc in docs.word_markdown(setting.key)
    assert set(docs.KEYWORD_DOCS) == set(KEYWORDS)
    for keyword in KEYWORDS:
        assert docs.KEYWORD_DOCS[keyword] in docs.word_markdown(keyword)


def test_hover_on_an_option_names_its_kind():
    result = analysis.analyse(MNIST, "mnist.pc")
    markdown, _ = analysis.hover(result, point_of(MNIST, "std", shift=1))
    assert "**std**: option of `normal`" in markdown
    assert schema.kind_named("normal").option("std").doc in markdown


def test_hover_on_a_constant_shows_its_declaration():
    markdown, _ = analysis.hover(analysis.analyse(SCOPES, "s.pc"), point_of(SCOPES, "height = U", shift=9))
    assert "const U = 2" in markdown  # model a's own constant hides the file's
    markdown, _ = analysis.hover(analysis.analyse(SCOPES, "s.pc"),
                                 point_of(SCOPES, "height = U", occurrence=1, shift=9))
    assert "const U = 1" in markdown


def test_hover_works_without_a_tree():
    text = "model m {\n  data = image(height = 2, width = 2\n  layers = cp(units = 4)\n"
    result = analysis.analyse(text, "broken.pc")
    assert result.tree is None
    markdown, span = analysis.hover(result, point_of(text, "cp(", shift=1))
    assert schema.kind_named("cp").doc in markdown and span is None
    markdown, _ = analysis.hover(result, point_of(text, "width", shift=1))
    assert "option of `image`" in markdown
    assert analysis.hover(result, point_of(text, "m {")) is None


# Definition ------------------------------------------------------------------------------

def test_definition_follows_the_scopes_of_constants():
    result = analysis.analyse(SCOPES, "s.pc")
    inner = analysis.definition(result, point_of(SCOPES, "height = U", shift=9))
    outer = analysis.definition(result, point_of(SCOPES, "height = U", occurrence=1, shift=9))
    assert inner == Span("s.pc", 3, 9, 3, 10)
    assert outer == Span("s.pc", 1, 7, 1, 8)


def test_definition_of_regions_and_of_nothing():
    result = analysis.analyse(HAND_WRITTEN, "h.pc")
    found = analysis.definition(result, point_of(HAND_WRITTEN, "even * odd", shift=1))
    line = HAND_WRITTEN.splitlines().index("    region even  = x[0] * x[2]") + 1
    assert found == Span("h.pc", line, 12, line, 16)
    assert analysis.definition(result, point_of(HAND_WRITTEN, "cp(")) is None
    assert analysis.definition(result, point_of(HAND_WRITTEN, "x[0]")) is None


def test_definition_without_a_tree_is_found_lexically():
    text = "const UNITS = 4\nmodel m {\n  layers = cp(units = UNITS\n"
    result = analysis.analyse(text, "b.pc")
    assert result.tree is None
    assert analysis.definition(result, point_of(text, "= UNITS", shift=3)) == Span("b.pc", 1, 7, 1, 12)


# Completion ------------------------------------------------------------------------------

def labels(text: str) -> list[str]:
    """The completions at the end of ``text``."""
    lines = split_lines(text)
    return [c.label for c in analysis.completions(text, Point(len(lines) - 1, len(lines[-1])))]


def test_completion_candidates_by_place():
    assert labels("") == ["const", "model"]
    assert set(labels("model m {\n  data = ")) == set(schema.kinds_of("data"))
    assert labels("model m {\n  mixing = ") == list(schema.setting_named("mixing").choices)
    assert set(labels("model m {\n  layers = cp(")) >= {"units"}
    assert labels("model m { structure { ") == ["region"]
    assert set(labels("model m { structure { region ab = x[0] * x[1]\n region r = a")) == {"ab", "r", "x"}
    assert labels("const UNITS = 3\nconst B = ") == ["UNITS", "B"]
    assert labels("model m { # ") == []


def test_completion_of_unknown_kinds_and_settings_is_empty_or_general():
    assert labels("model m {\n  layers = nonsense(") == []
    assert set(labels("model m {\n  wieghts = ")) == {k.name for k in schema.KINDS}


# Nothing fails, whatever the text ------------------------------------------------------------

_ALPHABET = st.sampled_from(list("model{}()[]=,*|+-/#\" \n\t_xab0123.eE") + [
    "model ", "const ", "structure ", "region ", "data = ", "image(", "cp(", "x[", "units = ",
    "\N{GRINNING FACE}", "\r\n"])


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(_ALPHABET, max_size=40), where=st.integers(0, 200))
def test_no_answer_fails_on_any_text(pieces, where):
    text = "".join(pieces)
    result = analysis.analyse(text, "fuzz.pc")
    lines = split_lines(text)
    point = Point(min(where // 20, len(lines)), where % 20)
    analysis.hover(result, point)
    analysis.definition(result, point)
    analysis.completions(text, point)

