"""The shipped LALR tables against a parser built from the grammar itself."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lark import Lark, Tree
from lark.exceptions import UnexpectedInput
from lark.grammar import Rule
from lark.lexer import TerminalDef

from pcdsl.syntax import grammar
from tests.fuzz.harness import any_spec, seed_specs

ROOT = Path(__file__).resolve().parents[2]
SPECS = tuple(p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").rglob("*.pc"))) + seed_specs()


REFERENCE = grammar.build_parser()  # built from the grammar: what the tables must match
SHIPPED = grammar.load_parser()


def _outcome(parser: Lark, text: str) -> object:
    """What a parser makes of a text: its tree, or where and why it fails."""
    try:
        return parser.parse(text)
    except UnexpectedInput as exc:
        expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()
        return type(exc).__name__, exc.line, exc.column, sorted(expected)


SHIPPED_TEXT = grammar.TABLES_PATH.read_text(encoding="utf-8")


def test_the_tables_are_those_of_the_grammar() -> None:
    # Fails after a grammar edit until `python scripts/regenerate.py` is run.
    assert grammar.decode_tables(SHIPPED_TEXT)[2] == grammar.grammar_sha256()


def test_the_shipped_tables_are_used_with_their_lark_version() -> None:
    import lark

    if grammar.decode_tables(SHIPPED_TEXT)[3] != lark.__version__:
        assert grammar.shipped_tables() is None
    else:
        assert grammar.shipped_tables() is not None


def test_the_tables_survive_json_exactly() -> None:
    # Tuples and integer keys (which JSON lacks) come back as they were.
    data, memo = REFERENCE.memo_serialize([TerminalDef, Rule])
    assert grammar.decode_tables(grammar.encode_tables(data, memo))[:2] == (data, memo)
    states = data["parser"]["parser"]["states"]
    assert all(isinstance(k, int) for k in states)
    row = next(iter(states.values()))
    assert all(isinstance(k, int) and isinstance(v, tuple) for k, v in row.items())


@pytest.mark.parametrize("text", ["", "{", '{"data": {}}', "[1, 2]", '{"(tuple)": 1}'])
def test_unreadable_tables_fall_back_to_the_grammar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     text: str) -> None:
    damaged = tmp_path / "parse_tables.json"
    damaged.write_text(text, encoding="utf-8")
    monkeypatch.setattr(grammar, "TABLES_PATH", damaged)
    assert grammar.shipped_tables() is None
    mnist = (ROOT / "examples" / "mnist.pc").read_text(encoding="utf-8")
    assert grammar.load_parser().parse(mnist) == REFERENCE.parse(mnist)


def test_every_spec_parses_the_same() -> None:
    assert len(SPECS) > 10
    for text in SPECS:
        assert _outcome(SHIPPED, text) == _outcome(REFERENCE, text), text
    assert isinstance(_outcome(SHIPPED, (ROOT / "examples" / "mnist.pc").read_text()), Tree)


def test_broken_specs_fail_at_the_same_place_for_the_same_reason() -> None:
    rng = random.Random(0)
    pieces = ["{", "}", "(", ")", "=", ",", "model", "const", "1", '"x"', "-", "*", "|", "\n"]
    failures = 0
    for text in SPECS:
        for _ in range(8):
            at = rng.randrange(len(text) + 1)
            cut = rng.randrange(4)
            broken = text[:at] + rng.choice(pieces) + text[at + cut:]
            outcome = _outcome(SHIPPED, broken)
            assert outcome == _outcome(REFERENCE, broken), broken
            failures += not isinstance(outcome, Tree)
    assert failures > 50  # the mutations do exercise the error paths


def test_stale_tables_fall_back_to_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grammar, "grammar_sha256", lambda: "0" * 64)
    assert grammar.shipped_tables() is None
    text = (ROOT / "examples" / "mnist.pc").read_text(encoding="utf-8")
    assert grammar.load_parser().parse(text) == REFERENCE.parse(text)


def test_regenerated_tables_parse_the_same() -> None:
    data, memo, _, _ = grammar.decode_tables(grammar.tables_source())
    parser = Lark._load_from_dict(data, memo)
    for text in SPECS:
        assert _outcome(parser, text) == _outcome(REFERENCE, text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_spec())
def test_fuzzed_specs_parse_the_same(text: str) -> None:
    assert _outcome(SHIPPED, text) == _outcome(REFERENCE, text)
