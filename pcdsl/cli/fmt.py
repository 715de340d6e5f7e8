"""`pcc fmt FILE... [--check]`: rewrite specs in the canonical layout
(``pcdsl.syntax.format``), or, with ``--check``, only say which are not in it (for CI)."""

from __future__ import annotations

import argparse
import difflib
import os
import stat
import sys
from pathlib import Path

from pcdsl.cli.common import (
    EXIT_DIAGNOSTICS,
    EXIT_OK,
    EXIT_USAGE,
    is_io_failure,
    print_diagnostics,
)
from pcdsl.cli.common import error as cli_error
from pcdsl.diagnostics import CompileError, error

STDIN = "-"


def register(commands: argparse._SubParsersAction) -> None:
    fmt = commands.add_parser(
        "fmt", help="format specs in the canonical layout",
        description="Rewrite each spec in place in the canonical layout (only when it changes; "
                    "comments are kept). '-' reads standard input and writes standard output.")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="a .pc spec, or '-' for standard input")
    fmt.add_argument("--check", action="store_true",
                     help="write nothing; print a diff for each file that is not formatted and "
                          "exit 1 if there is one")
    fmt.set_defaults(run=run)


def unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff from ``before`` to ``after``, with the usual marker where a side has
    no final newline (so the diff is still line-oriented)."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=path, tofile=f"{path} (formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _read(path: str) -> str:
    """The text of a spec (or of standard input); an ``io`` error, as ``pcc check``
    reports it, when it cannot be read. Formatting needs no compiler stage but the
    parser, so this does not go through the driver."""
    try:
        if path == STDIN:
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        name = "standard input" if path == STDIN else path
        raise CompileError([error("io", f"cannot read {name}: {reason}", None)]) from None


def _refusal(path: str) -> str | None:
    """Why ``pcc fmt`` may not rewrite ``path``, or None. Formatting replaces the file (a
    rename), so like black, gofmt and prettier it leaves alone a file it may not write:
    read-only (even to root, who may write anything, the mode says "leave this"),
    another user's (the new file would be ours, taking it over in a shared folder), or
    not a regular file."""
    target = os.path.realpath(path)
    info = os.stat(target)
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device: a rename would replace it
        return "it is not a regular file (format standard input with 'pcc fmt -' instead)"
    if info.st_uid != os.geteuid():
        return f"it belongs to another user (uid {info.st_uid}), and rewriting would make it ours"
    if not os.access(target, os.W_OK) or not info.st_mode & stat.S_IWUSR:
        return f"it is read-only (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _write_in_place(path: str, text: str) -> None:
    from pcdsl.files import write_text_atomically

    target = os.path.realpath(path)  # through a symbolic link, which stays a link
    mode = stat.S_IMODE(os.stat(target).st_mode)
    write_text_atomically(target, text)
    os.chmod(target, mode)  # the atomic rename gives a fresh file; keep the spec's permissions


def format_one(path: str, check: bool) -> int:
    """Format (or check) one file; return its exit status."""
    from pcdsl.syntax.format import format_source

    try:
        text = _read(path)
    except CompileError as exc:
        print_diagnostics(exc.diagnostics, {}, sys.stderr)
        return EXIT_USAGE if is_io_failure(exc) else EXIT_DIAGNOSTICS
    name = "<stdin>" if path == STDIN else path
    try:
        formatted = format_source(text, name)
    except CompileError as exc:
        print_diagnostics(exc.diagnostics, {name: text}, sys.stderr)
        return EXIT_DIAGNOSTICS
    except RecursionError:  # the pretty-printer recurses on nesting, as the checker does
        from pcdsl.driver import too_deep

        print_diagnostics([too_deep(text, name)], {name: text}, sys.stderr)
        return EXIT_DIAGNOSTICS
    if check:
        if formatted == text:
            return EXIT_OK
        sys.stdout.write(unified_diff(text, formatted, name))
        print(f"would reformat {name}", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    if path == STDIN:
        sys.stdout.write(formatted)
        return EXIT_OK
    if formatted != text:
        try:
            refusal = _refusal(path)
            if refusal is not None:
                return cli_error(f"cannot reformat {path}: {refusal}; left as it was "
                                 "(pcc fmt --check shows the changes)")
            _write_in_place(path, formatted)
        except OSError as exc:
            return cli_error(f"cannot write {path}: {exc.strerror or exc}")
        print(f"reformatted {path}", file=sys.stderr)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.files.count(STDIN) > 1:
        return cli_error("'-' (standard input) may be given once")
    status = EXIT_OK
    for path in args.files:
        status = max(status, format_one(path, args.check))
    return status
