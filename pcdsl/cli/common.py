"""What every `pcc` command shares: exit codes, the argument parser class, and printing of
diagnostics and one-line errors."""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
import sys
from collections.abc import Sequence
from typing import TextIO

from pcdsl.diagnostics import CompileError, Diagnostic, closest, render

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = ("Exit codes: 0 success, 1 diagnostics (errors in a spec), 2 usage or "
                   "unreadable file, checkpoint or data set, 3 internal error, 130 interrupted")

# argparse's wording for a value outside ``choices`` (Python 3.11 and 3.12).
_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)$")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 2 without a traceback, name the command
    they are about (a subcommand's unknown flag gets that subcommand's usage, not the top
    level's) and suggest the closest flag or choice.

    Abbreviated flags are not accepted (``allow_abbrev=False``): ``--max`` meaning
    ``--max-params`` would change meaning, or break, when a flag is added, and the
    suggestion for an unknown flag serves the hand that typed it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        # Subcommands are parsed by their own parser's parse_known_args; refusing leftovers
        # here, rather than in the top level's parse_args, reports them with the usage
        # of the command they were given to.
        self._given = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self.unrecognized(extras))
        return namespace, extras

    def unknown_flags(self, given: Sequence[str]) -> list[str]:
        return [a for a in given if a.startswith("--")
                and a.split("=", 1)[0] not in self._option_string_actions]

    def unrecognized(self, extras: list[str]) -> str:
        """The message for arguments no option or positional took, naming the closest
        flag of this command for each unknown one."""
        flags = [f for f in self._option_string_actions if f.startswith("--")]
        unknown = list(dict.fromkeys(e.split("=", 1)[0] for e in extras if e.startswith("-") and e != "-"))
        if not unknown:
            return f"unrecognized arguments: {' '.join(extras)}"
        suggestions = {flag: closest(flag, flags) for flag in unknown}
        parts = [f"unknown option '{flag}'" + (f", did you mean '{best}'?" if best else "")
                 for flag, best in suggestions.items()]
        if not any(suggestions.values()):
            parts.append(f"the options of '{self.prog}' are: {', '.join(sorted(flags))}")
        return "; ".join(parts)

    def error(self, message: str) -> None:
        # argparse reports a missing argument before an unknown flag, yet the flag is often
        # the mistake: `pcc check --max-param 3` says what `--max-param` should have been.
        unknown = self.unknown_flags(getattr(self, "_given", ()))
        if message.startswith("the following arguments are required") and unknown:
            message = self.unrecognized(unknown)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {with_suggestion(message)}\n")


def with_suggestion(message: str) -> str:
    """argparse's "invalid choice" message with the closest choice named."""
    found = _INVALID_CHOICE.search(message)
    if found is None:
        return message
    choices = re.findall(r"'([^']*)'", found["choices"])
    best = closest(found["value"], choices)
    return f"{message}; did you mean '{best}'?" if best else message


def integer_in(text: str, low: int, high: int | None = None, what: str = "an integer") -> int:
    """An argparse value as an integer in ``low..high`` (no upper bound for None), or
    ``ArgumentTypeError`` saying what was expected."""
    expected = {0: f"{what} of at least 0", 1: f"a positive {what.removeprefix('an ')}"}.get(
        low, f"{what} of at least {low}") if high is None else f"{what} in {low}..{high}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, found '{text}'") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {expected}, found {value}")
    return value


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    return integer_in(text, 1)


def non_negative(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return integer_in(text, 0)


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found '{text}'")
    return value


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str],
                      stream: TextIO) -> None:
    for diagnostic in diagnostics:
        print(render(diagnostic, sources), file=stream)


def sources_for(path: str) -> dict[str, str]:
    """{path: text} of a spec, or {} when it cannot be read (the diagnostic says why)."""
    from pcdsl.driver import read_spec  # the same reader, size limit and newlines

    try:
        return {path: read_spec(path)}
    except CompileError:
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


def output_refusal(path: str, inputs: Sequence[str] = ()) -> str | None:
    """Why a command may not write its output to ``path`` (a folder, a missing folder, one
    of its own ``inputs``), or None; cheap, so a command can ask before its real work."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    if found is None:
        folder = os.path.dirname(path) or "."
        return None if os.path.isdir(folder) else f"cannot write {path}: there is no folder {folder}"
    if stat.S_ISDIR(found.st_mode):
        return (f"cannot write {path}: it is a folder; name a file, e.g. -o "
                f"{os.path.join(path, 'FILE')}")
    for source in inputs:
        if os.path.exists(source) and os.path.samefile(path, source):
            return (f"refusing to write over {source}, which this command reads (-o {path}): "
                    "name another output file")
    return None


def write_output(path: str, data: bytes, *, inputs: Sequence[str] = ()) -> int:
    """Write a command's output file and return its exit status; a refusal
    (``output_refusal``) or failure is one line naming the file. Nothing is left
    half-written: ``pcdsl.files.atomic_write`` replaces a regular file atomically and
    writes a device or pipe (``/dev/null``, ``/dev/stdout``) in place."""
    from pcdsl.files import atomic_write

    refusal = output_refusal(path, inputs)
    if refusal:
        return error(refusal)
    try:
        atomic_write(path, lambda handle: handle.write(data))
    except OSError as exc:
        return error(f"cannot write {path}: {exc.strerror or exc}")
    return EXIT_OK
