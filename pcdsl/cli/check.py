"""`pcc check FILE...`: parse and check specs (syntax, names, types, structure) for
editors and CI; exit 0 when every file is clean of errors."""

from __future__ import annotations

import argparse
import json
import sys

from pcdsl.cli.common import (
    EXIT_DIAGNOSTICS,
    EXIT_OK,
    EXIT_USAGE,
    is_io_failure,
    print_diagnostics,
    sources_for,
)
from pcdsl.diagnostics import CompileError, Diagnostic, Severity


def register(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser("check", help="check specs: syntax, names, types, structure")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="diagnostics as text (default) or a JSON list")
    check.set_defaults(run=run)


def diagnostic_json(d: Diagnostic) -> dict:
    span = d.span
    return {
        "file": span.file if span else None,
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


def run(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file

    status = EXIT_OK
    collected: list[Diagnostic] = []
    for path in args.files:
        sources = sources_for(path)
        try:
            compiled = compile_file(path, fold=False)
        except CompileError as exc:
            found = list(exc.diagnostics)
            status = max(status, EXIT_USAGE if is_io_failure(exc) else EXIT_DIAGNOSTICS)
        else:
            found = list(compiled.warnings)
        collected.extend(found)
        if args.format == "text":
            print_diagnostics(found, sources, sys.stderr)
            errors = sum(1 for d in found if d.severity is Severity.ERROR)
            verdict = "ok" if errors == 0 else f"{errors} error{'s' if errors != 1 else ''}"
            print(f"{path}: {verdict}")
    if args.format == "json":
        print(json.dumps([diagnostic_json(d) for d in collected], indent=2))
    return status
