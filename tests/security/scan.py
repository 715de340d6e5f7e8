"""A scanner for generated modules: everything in one must come from the compiler's own
code generator, except numbers, the model's name and the spec's (validated) file name.

The allow-list is every word of the code generator's sources (the templates, the kernels
it inlines, ``emit.py``) and of the layer kinds (``ir/circuit.py``), compared without case and surrounding
underscores, after numbers are taken out (``dense_12`` is the word ``dense``,
``_GATHER_4`` is ``gather``). Each Python token of a module is checked: a name must be an
allowed word; a string or a comment may hold allowed words, the model's name and the
words of the spec's file name, and hex digests. A word from a spec (a marker in a
comment, a string, a region name) can pass only if the code generator itself uses it,
so tests write distinctive markers. The module must also be plain ASCII (no look-alike,
invisible or bidirectional characters), parse as Python, and read no name it does not
define (a non-finite number written as ``inf`` would be one).
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import pcdsl

PACKAGE = Path(pcdsl.__file__).resolve().parent
SOURCES = (
    *sorted((PACKAGE / "codegen" / "templates").glob("*.j2")),
    *sorted((PACKAGE / "codegen" / "kernels").glob("*.py")),
    PACKAGE / "codegen" / "emit.py",
    PACKAGE / "codegen" / "__init__.py",
    PACKAGE / "ir" / "circuit.py",
    PACKAGE / "__init__.py",
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
_NUMBER = re.compile(r"_?\d+")


def normalise(word: str) -> str:
    return word.strip("_").lower()


def words_of(text: str) -> set[str]:
    """The words of ``text``: identifier-like runs once digests and numbers are taken out."""
    text = _NUMBER.sub(" ", _DIGEST.sub(" ", text))
    return {normalise(w) for w in _WORD.findall(text)} - {""}


@cache
def allowed_words() -> frozenset[str]:
    return frozenset(w for path in SOURCES for w in words_of(path.read_text(encoding="utf-8")))


def scan(text: str, model_name: str, spec_file: str = "") -> list[str]:
    """What in generated module ``text`` did not come from the code generator."""
    problems = []
    odd = sorted({c for c in text if not (c.isascii() and (c.isprintable() or c == "\n"))})
    if odd:
        problems.append(f"characters outside printable ASCII: {[hex(ord(c)) for c in odd]}")
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return problems + [f"not Python: {exc}"]
    problems += [f"line {line}: name {name!r} is never defined" for name, line in undefined_names(text)]
    allowed = allowed_words()
    data_words = words_of(model_name) | words_of(spec_file)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME:
            unknown = words_of(token.string) - allowed
            where = "name"
        elif token.type in (tokenize.STRING, tokenize.COMMENT):
            unknown = words_of(token.string) - allowed - data_words
            where = "string" if token.type == tokenize.STRING else "comment"
        else:
            continue
        if unknown:
            problems.append(f"line {token.start[0]}: {where} {token.string[:80]!r} holds "
                            f"{sorted(unknown)}, which the code generator never writes")
    return problems


def undefined_names(text: str) -> list[tuple[str, int]]:
    """Names a module reads but neither defines nor imports, nor Python builtins: a number
    without a literal (``inf``, ``nan``) written into code would be one. Scopes are
    ignored: a name bound anywhere counts as defined everywhere."""
    tree = ast.parse(text)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return [(node.id, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound]


def string_constants(text: str) -> list[str]:
    """Every string literal of a module (docstrings included)."""
    return [node.value for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]
