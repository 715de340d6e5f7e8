"""The fuzz harness itself: it must see the failures it is there to find."""

from __future__ import annotations

import time

import pytest

import tests.fuzz.harness as harness
from pcdsl.diagnostics import CompileError, Span, error
from tests.fuzz.harness import cli_failure_of, failure_of, shrink, tokens_of

GOOD = "model m { data = image(height = 2, width = 2) inputs = categorical(2) layers = cp(2) }"


def test_a_good_spec_passes(tmp_path):
    assert failure_of(GOOD) is None
    assert cli_failure_of(GOOD, tmp_path) is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.py"]


def test_an_exception_is_a_failure(monkeypatch):
    def broken(source, path):
        raise ValueError("boom")

    monkeypatch.setattr(harness, "compile_source", broken)
    failure = failure_of(GOOD)
    assert failure is not None and "ValueError: boom" in failure


def test_a_diagnostic_without_a_span_is_a_failure(monkeypatch):
    def spanless(source, path):
        raise CompileError([error("x", "no place", None)])

    monkeypatch.setattr(harness, "compile_source", spanless)
    assert "no span" in failure_of(GOOD)

    def elsewhere(source, path):
        raise CompileError([error("x", "other file", Span("other.pc", 1, 1, 1, 2))])

    monkeypatch.setattr(harness, "compile_source", elsewhere)
    assert "bad span" in failure_of(GOOD)


def test_a_hang_is_a_failure(monkeypatch):
    def forever(source, path):
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(harness, "compile_source", forever)
    monkeypatch.setattr(harness, "CASE_SECONDS", 1)
    assert failure_of(GOOD).startswith("hang")


def test_a_partial_output_is_a_failure(monkeypatch, tmp_path):
    import pcdsl.files

    def half(path, write):  # a writer that leaves what it wrote behind, unlike atomic_write
        with open(path, "wb") as handle:
            handle.write(b"# Generated")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pcdsl.files, "atomic_write", half)
    failure = cli_failure_of(GOOD, tmp_path)
    assert failure is not None and "partial output" in failure


def test_tokens_join_back_and_shrink_keeps_small_numbers():
    source = 'const U = 64 # c\nmodel m { data = image(1, 28, 28) x = "s" y = 1.5e3 }'
    assert "".join(tokens_of(source)) == source
    assert shrink(source) == 'const U = 3 # c\nmodel m { data = image(1, 3, 3) x = "s" y = 1.5e3 }'


@pytest.mark.parametrize("text", ["\x00", "\ud800", "\u202e"])
def test_odd_characters_do_not_break_the_tokenizer(text):
    assert "".join(tokens_of(GOOD + text)) == GOOD + text
