"""Inline the kernels a generated module uses, and only those.

The kernels are ordinary modules under ``kernels/``. Everything after a module's
``INLINED`` marker line is a sequence of top-level statements (functions, classes,
constants); above the marker are its imports and stand-ins for the constants the generated
module defines itself. ``inline_kernels(layout)`` takes the spec-dependent text of a module
(the rendered template, Python source without its kernels) and returns the source of the
kernels it needs: the closure of the names it reads over the names each kernel reads, in
a fixed order (the modules in ``KERNEL_MODULES`` order, each in source order), so the same
spec always gives the same text.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import pprint
import re
from dataclasses import dataclass
from pathlib import Path

INLINED = "# INLINED: from here on, this file is copied into every generated module.\n"
# The order in which kernels are written into a module: a kernel module after those it uses
# reads best, though the names are only looked up when called.
KERNEL_MODULES = ("tables", "validation", "initialisers", "scales", "fused", "rows", "inputs",
                  "gaussian", "sums", "products", "queries", "grams")
_KERNELS = Path(__file__).parent / "kernels"


@dataclass(frozen=True)
class Kernel:
    """One top-level statement after the marker of a kernel module."""

    module: str
    defines: frozenset[str]
    reads: frozenset[str]
    source: str  # its text, with the comment lines just above it


def inline_kernels(layout: str, provided: frozenset[str] = frozenset()) -> str:
    """The source of the kernels that ``layout`` needs, separated and followed by two blank
    lines ("" when it needs none). Names ``layout`` defines itself, and ``provided`` (those a
    module already carries), are never inlined."""
    return "".join(kernel.source + "\n\n\n" for kernel in needed_kernels(layout, provided))


def needed_kernels(layout: str, provided: frozenset[str] = frozenset()) -> list[Kernel]:
    """The kernels of the closure of the names ``layout`` reads, in inlining order."""
    kernels = kernel_statements()
    definition = {name: i for i, kernel in enumerate(kernels) for name in kernel.defines}
    known = defined_names(layout) | provided
    wanted: set[int] = set()
    # The layout's words that name kernels: a generated module's layout is long (a statement
    # per fold) and a regular expression reads it ten times faster than ``ast`` would. A
    # kernel named only in a comment or a string would be taken too; tests check there is
    # none.
    pending = [name for name in set(_WORD.findall(layout)) if name in definition]
    while pending:
        name = pending.pop()
        i = definition.get(name)
        if i is None or i in wanted or name in known:
            continue  # torch, a builtin, a local name, the layout's own, or taken already
        wanted.add(i)
        pending.extend(kernels[i].reads)
    return [kernels[i] for i in sorted(wanted)]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A top-level definition of the layout: ``def name``, ``class name``, ``name =``, ``name: type =``.
_TOP_LEVEL = re.compile(r"^(?:(?:def|class)\s+([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=))",
                        re.MULTILINE)


def defined_names(source: str) -> frozenset[str]:
    """The names that the top-level definitions of the module ``source`` bind."""
    return frozenset(a or b for a, b in _TOP_LEVEL.findall(source))


@functools.cache
def kernel_statements() -> tuple[Kernel, ...]:
    """Every kernel of every kernel module, in inlining order; each name defined once."""
    codes = {module: kernel_code(module) for module in KERNEL_MODULES}
    shipped = shipped_index(kernels_sha256(codes))
    kernels: list[Kernel] = []
    for module, code in codes.items():
        lines = code.splitlines()
        statements = shipped[module] if shipped is not None else statement_index(code)
        for defines, reads, first, last in statements:
            kernels.append(Kernel(module, frozenset(defines), frozenset(reads),
                                  "\n".join(lines[first - 1:last])))
    names = [name for kernel in kernels for name in kernel.defines]
    assert len(names) == len(set(names)), "a kernel name is defined twice"
    return tuple(kernels)


def kernel_code(module: str) -> str:
    """The text of ``kernels/<module>.py`` after its marker line: what modules carry."""
    text = (_KERNELS / f"{module}.py").read_text(encoding="utf-8")
    _, marker, code = text.partition(INLINED)
    assert marker, f"kernels/{module}.py has no INLINED marker"
    return code


def kernels_sha256(codes: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for module, code in codes.items():
        digest.update(f"{module}\0{code}\0".encode())
    return digest.hexdigest()


# A kernel statement as the index keeps it: the names it defines and reads (sorted), and
# its first and last line in the module's code after the marker (comment above included).
Statement = tuple[tuple[str, ...], tuple[str, ...], int, int]


def statement_index(code: str) -> list[Statement]:
    """The statements of a kernel module's code, read with ``ast``."""
    lines = code.splitlines()
    statements: list[Statement] = []
    for statement in ast.parse(code).body:
        start = _first_line(statement)
        while start > 1 and lines[start - 2].startswith("#"):
            start -= 1  # the comment that introduces the statement
        defines = _defined_at_top(ast.Module([statement], []))
        statements.append((tuple(sorted(defines)), tuple(sorted(_names(statement))), start,
                           statement.end_lineno or start))
    return statements


def shipped_index(sha256: str) -> dict[str, tuple[Statement, ...]] | None:
    """The index shipped in ``kernel_index.py`` when it is that of the kernels' current
    text (``sha256``), else None (a kernel was edited since: the index is read anew)."""
    try:
        from pcdsl.codegen import kernel_index
    except ImportError:
        return None
    return kernel_index.STATEMENTS if kernel_index.KERNELS_SHA256 == sha256 else None


def index_source() -> str:
    """The text of ``kernel_index.py`` for the kernels as they are. Of the names each
    statement reads it keeps the kernels' own: the closure follows no others."""
    codes = {module: kernel_code(module) for module in KERNEL_MODULES}
    indexed = {module: statement_index(code) for module, code in codes.items()}
    kernel_names = {name for statements in indexed.values() for s in statements for name in s[0]}
    statements = {module: tuple((defines, tuple(n for n in reads if n in kernel_names), first, last)
                                for defines, reads, first, last in entries)
                  for module, entries in indexed.items()}
    return ('"""Where each kernel of kernels/ is and which kernels it reads, generated by\n'
            "scripts/regenerate.py: do not edit. Parsing the kernel modules with ``ast`` took\n"
            "50 ms of every pcc run; codegen.inline uses this index while KERNELS_SHA256 is that\n"
            'of the kernels\' text, and parses them otherwise."""\n\n'
            f"KERNELS_SHA256 = {kernels_sha256(codes)!r}\n\n"
            "# module -> (names defined, kernels read, first line, last line) of each statement\n"
            f"STATEMENTS = {pprint.pformat(statements, width=100, sort_dicts=False)}\n")


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])


def _defined_at_top(tree: ast.Module) -> frozenset[str]:
    """Names bound by the top-level statements of ``tree``, including those bound inside a
    top-level ``if`` or ``try`` (an optional import, a kernel defined when it is there)."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.If, ast.Try)):
            handlers = [h.body for h in getattr(statement, "handlers", [])]
            for block in (statement.body, statement.orelse, getattr(statement, "finalbody", []), *handlers):
                names |= _defined_at_top(ast.Module(block, []))
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in statement.names)
    return frozenset(names)


def _names(tree: ast.AST) -> set[str]:
    """Every name ``tree`` reads."""
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
