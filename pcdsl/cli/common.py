"""What every `pcc` command shares: exit codes, the argument parser class, and printing of
diagnostics and one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from pcdsl.diagnostics import CompileError, Diagnostic, render

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_CODES_HELP = ("Exit codes: 0 success, 1 diagnostics (errors in a spec), 2 usage or "
                   "unreadable file, checkpoint or data set, 3 internal error")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 2 without a traceback."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str],
                      stream: TextIO) -> None:
    for diagnostic in diagnostics:
        print(render(diagnostic, sources), file=stream)


def sources_for(path: str) -> dict[str, str]:
    """{path: text} of a spec, or {} when it cannot be read (the diagnostic says why)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return {path: handle.read()}
    except (OSError, UnicodeDecodeError):
        return {}


def is_io_failure(exc: CompileError) -> bool:
    """Whether a compile error is about reading the file rather than its content."""
    return any(d.code in ("io", "usage") for d in exc.diagnostics)


def compile_failure(exc: CompileError, path: str) -> int:
    """Print a compile error's diagnostics, with the spec's text, and return its exit
    status: 2 when the file could not be read, 1 for errors in it."""
    print_diagnostics(exc.diagnostics, sources_for(path), sys.stderr)
    return EXIT_USAGE if is_io_failure(exc) else EXIT_DIAGNOSTICS


def error(message: str) -> int:
    """Print a one-line usage error and return its exit status."""
    print(f"pcc: error: {message}", file=sys.stderr)
    return EXIT_USAGE
