"""Positions: our spans count lines and columns from 1, in characters (code points); LSP
counts from 0, in code units of the negotiated encoding (UTF-16 unless the client offers
another)."""

from __future__ import annotations

from dataclasses import dataclass

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


@dataclass(frozen=True, order=True)
class Point:
    """A 0-based line and a 0-based character (code point) offset in that line."""

    line: int
    character: int


def normalize_newlines(text: str) -> str:
    """``text`` with every line terminator of the LSP (``\\r\\n``, a lone ``\\r``, ``\\n``) as
    ``\\n``: the text ``pcc check`` compiles, as Python's universal newlines read files. The
    parser breaks lines at ``\\n`` only, so this makes its line numbers the client's; a line's
    characters are unchanged, so are its columns."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_lines(text: str) -> list[str]:
    """The lines of a text with ``normalize_newlines``' line breaks, without them; always at
    least one ("" for "")."""
    return text.split("\n")


def _units(character: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    if encoding == UTF8:
        return len(character.encode("utf-8"))
    return 2 if ord(character) > 0xFFFF else 1


def to_client(lines: list[str], point: Point, encoding: str = UTF16) -> tuple[int, int]:
    """(line, character in code units) of ``point``, clamped into the text."""
    line = min(max(point.line, 0), len(lines) - 1)
    text = lines[line]
    prefix = text[:min(max(point.character, 0), len(text))]
    return line, sum(_units(c, encoding) for c in prefix)


def from_client(lines: list[str], line: int, units: int, encoding: str = UTF16) -> Point:
    """The ``Point`` at (line, character in code units), clamped into the text: past the end
    of its line is the end of the line (as the LSP says), past the last line the end of the text."""
    if line >= len(lines):
        return Point(len(lines) - 1, len(lines[-1]))
    line = max(line, 0)
    counted = 0
    for index, character in enumerate(lines[line]):
        if counted >= units:
            return Point(line, index)
        counted += _units(character, encoding)
    return Point(line, len(lines[line]))


def offset_of(lines: list[str], point: Point) -> int:
    """The string offset of ``point`` in the text the lines came from."""
    line = min(max(point.line, 0), len(lines) - 1)
    return sum(len(text) + 1 for text in lines[:line]) + min(max(point.character, 0), len(lines[line]))


def span_points(line: int, column: int, end_line: int, end_column: int) -> tuple[Point, Point]:
    """The 0-based (start, end) of a 1-based span with an exclusive end."""
    start = Point(max(line - 1, 0), max(column - 1, 0))
    end = Point(max(end_line - 1, 0), max(end_column - 1, 0))
    return start, max(start, end)
