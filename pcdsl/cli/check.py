"""`pcc check FILE...`: parse and check specs (syntax, names, types, structure, lint
warnings and optional budgets) for editors, pre-commit and CI.

Exit status: 0 when every file is clean of errors (warnings alone are clean unless
``--warnings-as-errors``), 1 when some file has diagnostics that count, 2 for a usage
error or an unreadable file. Formats: ``text`` (diagnostics on standard error, a verdict
per file on standard output), ``json`` (one list of diagnostics on standard output) and
``github`` (GitHub Actions workflow commands, one annotation per diagnostic).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from pcdsl.cli.common import (
    EXIT_DIAGNOSTICS,
    EXIT_OK,
    EXIT_USAGE,
    is_io_failure,
    positive,
    print_diagnostics,
    sources_for,
)
from pcdsl.diagnostics import CompileError, Diagnostic, Severity

FORMATS = ("text", "json", "github")


def register(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check", help="check specs: syntax, names, types, structure, lint warnings",
        description="Check every model of every FILE. Exit status: 0 clean (warnings "
                    "allowed), 1 diagnostics, 2 usage error or unreadable file.")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=FORMATS, default="text",
                       help="diagnostics as text (default), a JSON list, or GitHub Actions "
                            "annotations (workflow commands)")
    check.add_argument("--warnings-as-errors", "-W", action="store_true",
                       help="exit 1 when there are warnings, too")
    check.add_argument("--max-params", type=positive, metavar="N",
                       help="an error for every model with more than N parameters")
    check.add_argument("--max-layers", type=positive, metavar="N",
                       help="an error for every model with more than N layers")
    check.set_defaults(run=run)


@dataclass(frozen=True)
class FileResult:
    """What checking one file found, and the exit status it calls for on its own."""

    path: str
    diagnostics: tuple[Diagnostic, ...]
    status: int


def check_path(path: str, *, max_parameters: int | None = None,
               max_layers: int | None = None) -> FileResult:
    from pcdsl.driver import compile_file
    from pcdsl.passes.lint import budget_errors

    try:
        compiled = compile_file(path, fold=False)
    except CompileError as exc:
        status = EXIT_USAGE if is_io_failure(exc) else EXIT_DIAGNOSTICS
        return FileResult(path, exc.diagnostics, status)
    budget = tuple(d for model in compiled.models
                   for d in budget_errors(model.circuit, model.spec, max_parameters=max_parameters,
                                          max_layers=max_layers))
    found = budget + compiled.warnings
    return FileResult(path, found, EXIT_DIAGNOSTICS if budget else EXIT_OK)


def file_status(result: FileResult, warnings_as_errors: bool) -> int:
    if result.status == EXIT_OK and warnings_as_errors and any(
            d.severity is Severity.WARNING for d in result.diagnostics):
        return EXIT_DIAGNOSTICS
    return result.status


def verdict(result: FileResult, warnings_as_errors: bool) -> str:
    """``FILE: ok``, ``FILE: 2 errors``; warnings are counted only when they fail the check."""
    errors = sum(1 for d in result.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in result.diagnostics if d.severity is Severity.WARNING)
    parts = [_count(errors, "error")] if errors else []
    if warnings_as_errors and warnings:
        parts.append(_count(warnings, "warning"))
    return f"{result.path}: {', '.join(parts) if parts else 'ok'}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def diagnostic_json(d: Diagnostic, path: str | None = None) -> dict:
    """One diagnostic as JSON; ``path`` names the file when the diagnostic has no span."""
    span = d.span
    return {
        "file": span.file if span else path,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "end_line": span.end_line if span else None,
        "end_column": span.end_column if span else None,
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
        "notes": [{"message": message,
                   "line": note_span.line if note_span else None,
                   "column": note_span.column if note_span else None}
                  for message, note_span in d.notes],
    }


# GitHub Actions workflow commands ---------------------------------------------------------

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def escape_data(text: str) -> str:
    """A command's message: GitHub reads ``%``, CR and LF as escapes and line ends."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def visible(text: str) -> str:
    """``text`` with every invisible character (controls, bidirectional overrides, zero
    width joiners) written as ``\\uXXXX``, so that a spec's text quoted in a message cannot
    reorder or hide what GitHub shows. Line breaks are kept for ``escape_data``."""
    return "".join(c if c.isprintable() or c in "\n\r" else f"\\u{ord(c):04x}" for c in text)


def github_annotation(d: Diagnostic, path: str | None = None) -> str:
    """``::error file=F,line=L,col=C,endLine=L,endColumn=C,title=CODE::message``.

    GitHub takes columns only for a span on one line; ``endColumn`` is the span's last
    column (our spans' ends are exclusive). The hint and the notes follow the message
    on lines of their own."""
    span = d.span
    properties: list[tuple[str, str]] = []
    file = span.file if span else path
    if file:
        properties.append(("file", file))
    if span is not None:
        properties.append(("line", str(span.line)))
        if span.end_line == span.line:
            properties.append(("col", str(span.column)))
            properties.append(("endLine", str(span.end_line)))
            properties.append(("endColumn", str(max(span.column, span.end_column - 1))))
        else:
            properties.append(("endLine", str(span.end_line)))
    properties.append(("title", d.code))
    lines = [d.message]
    if d.hint:
        lines.append(f"help: {d.hint}")
    for note, note_span in d.notes:
        where = f"line {note_span.line}, column {note_span.column}: " if note_span else ""
        lines.append(f"note: {where}{note}")
    rendered = ",".join(f"{key}={escape_property(visible(value))}" for key, value in properties)
    return f"::{_COMMANDS[d.severity]} {rendered}::{escape_data(visible(chr(10).join(lines)))}"


def _github(results: Iterable[FileResult]) -> str:
    return "".join(github_annotation(d, r.path) + "\n" for r in results for d in r.diagnostics)


def run(args: argparse.Namespace) -> int:
    results: list[FileResult] = []
    for path in args.files:
        result = check_path(path, max_parameters=args.max_params, max_layers=args.max_layers)
        results.append(result)
        if args.format == "text":
            print_diagnostics(result.diagnostics, sources_for(path), sys.stderr)
            print(verdict(result, args.warnings_as_errors))
    if args.format == "json":
        print(json.dumps([diagnostic_json(d, r.path) for r in results for d in r.diagnostics],
                         indent=2))
    elif args.format == "github":
        sys.stdout.write(_github(results))
    return max((file_status(r, args.warnings_as_errors) for r in results), default=EXIT_OK)
