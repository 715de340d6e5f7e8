"""Source spans and diagnostics shared by every stage of the compiler.

A diagnostic is data (severity, code, message, span, hint); rendering it as
``file:line:col: error: message`` with the source line and a caret is done here
too, so that every stage reports mistakes the same way.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end`` exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Diagnostic:
    """One message about the spec, tied to the place it is about."""

    severity: Severity
    code: str
    message: str
    span: Span | None
    hint: str | None = None
    notes: tuple[tuple[str, Span | None], ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class CompileError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__("\n".join(d.message for d in diagnostics))
        self.diagnostics = tuple(diagnostics)


def error(code: str, message: str, span: Span | None, hint: str | None = None,
          notes: tuple[tuple[str, Span | None], ...] = ()) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, span, hint, notes)


def warning(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, span, hint)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (for "did you mean ...?"), or None."""
    options = sorted(set(candidates))
    lowered = {c.lower().replace("-", "_"): c for c in options}
    key = name.lower().replace("-", "_")
    if key in lowered and lowered[key] != name:
        return lowered[key]
    match = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint sentence naming the closest candidate, if any is close enough."""
    best = closest(name, candidates)
    return f"did you mean '{best}'?" if best is not None else None


def visible(text: str) -> str:
    """``text`` with control and format characters (ANSI escapes, bidirectional overrides,
    zero-width joiners) replaced by U+FFFD, one for one, so that echoing a spec cannot
    drive the terminal or reorder what it shows, and columns still line up."""
    if text.isprintable():  # no control or format character (the common case, at C speed)
        return text
    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf") and c != "\t" else c
                   for c in text)


def render(diagnostic: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """Format a diagnostic like a C compiler: location, message, source line, caret, hint;
    the text a spec contributes is shown through ``visible``."""
    sources = sources or {}
    lines: list[str] = []
    span = diagnostic.span
    location = f"{span}: " if span is not None else ""
    lines.append(f"{location}{diagnostic.severity.value}: {diagnostic.message}")
    if span is not None:
        lines.extend(_excerpt(span, sources.get(span.file)))
    if diagnostic.hint:
        lines.append(f"  = help: {diagnostic.hint}")
    for note, note_span in diagnostic.notes:
        where = f"{note_span}: " if note_span is not None else ""
        lines.append(f"{where}note: {note}")
        if note_span is not None:
            lines.extend(_excerpt(note_span, sources.get(note_span.file)))
    return "\n".join(visible(line) for line in lines)


@functools.lru_cache(maxsize=4)
def _lines(text: str) -> tuple[str, ...]:
    # Split once per source, not once per diagnostic: a file of 20,000 duplicate constants
    # took minutes to report. (A string caches its hash, so the lookup is cheap.)
    # Lines end at "\n" alone, as the parser counts them: splitlines() would also break at
    # form feeds, U+2028 and the like, and show the wrong line under a span.
    return tuple(text.split("\n"))


EXCERPT_WIDTH = 120  # longer source lines are shown as a window around the span


def _excerpt(span: Span, text: str | None) -> list[str]:
    if text is None:
        return []
    source_lines = _lines(text)
    if not 1 <= span.line <= len(source_lines):
        return []
    line = source_lines[span.line - 1].expandtabs(1)
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = max(1, len(line) - span.column + 1)
    column = span.column
    if len(line) > EXCERPT_WIDTH:  # e.g. a 400-digit literal: show where the span starts
        start = max(0, column - 1 - EXCERPT_WIDTH // 4)
        end = start + EXCERPT_WIDTH
        line = ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")
        column = column - start + (1 if start else 0)
        width = min(width, len(line) - column + 1)
    gutter = f"{span.line:>4} | "
    return [f"{gutter}{line}", " " * (len(gutter) + column - 1) + "^" * max(1, width)]
