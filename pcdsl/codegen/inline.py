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
    kernels: list[Kernel] = []
    for module in KERNEL_MODULES:
        text = (_KERNELS / f"{module}.py").read_text(encoding="utf-8")
        head, marker, code = text.partition(INLINED)
        assert marker, f"kernels/{module}.py has no INLINED marker"
        lines = code.splitlines()
        tree = ast.parse(code)
        starts = [_first_line(statement) for statement in tree.body]
        for statement, start in zip(tree.body, starts):
            while start > 1 and lines[start - 2].startswith("#"):
                start -= 1  # the comment that introduces the statement
            source = "\n".join(lines[start - 1:statement.end_lineno])
            kernels.append(Kernel(module, _defined_at_top(ast.Module([statement], [])),
                                  frozenset(_names(statement)), source))
    names = [name for kernel in kernels for name in kernel.defines]
    assert len(names) == len(set(names)), "a kernel name is defined twice"
    return tuple(kernels)


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
