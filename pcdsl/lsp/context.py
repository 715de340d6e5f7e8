"""What the text around the cursor is, read lexically so that it works on the half-typed,
unparsable text an editor has while the user types: the word under the cursor, and the
completion context (after ``regions =``, inside ``cp(``, at the start of a model item...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pcdsl.syntax.parser import KEYWORDS

_LEXEME = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

OPERATORS = ("+", "-", "*", "/")
_OPENERS = {"{": "}", "(": ")", "[": "]"}
_CLOSERS = set(_OPENERS.values())


@dataclass(frozen=True)
class Lexeme:
    kind: str  # comment, string, name, number, other (punctuation), group (a closed bracket)
    text: str
    start: int
    end: int


def lex(text: str) -> list[Lexeme]:
    """Every lexeme but whitespace. Never fails: anything unknown is one ``other``."""
    return [Lexeme(m.lastgroup or "other", m.group(), m.start(), m.end())
            for m in _LEXEME.finditer(text) if m.lastgroup != "space"]


def word_at(text: str, offset: int) -> Lexeme | None:
    """The name under (or just before) ``offset``, outside comments and strings."""
    for lexeme in lex(text):
        if lexeme.start > offset:
            break
        if lexeme.kind == "name" and lexeme.start <= offset <= lexeme.end:
            return lexeme
    return None


def declared(text: str, keyword: str) -> list[Lexeme]:
    """The names declared by ``keyword`` (``const`` or ``region``) anywhere in the text."""
    lexemes = [x for x in lex(text) if x.kind != "comment"]
    return [name for word, name in zip(lexemes, lexemes[1:])
            if word.kind == "name" and word.text == keyword and name.kind == "name"]


@dataclass(frozen=True)
class Context:
    """Where the cursor is, for completion.

    ``place`` is one of: ``top`` (a file-level item may start), ``model`` (a model item may
    start), ``structure`` (a region may start), ``value`` (the value of setting
    ``setting``), ``argument`` (an argument of a call of ``call``, the ``position``-th),
    ``option_value`` (the value of option ``option`` of ``call``), ``expression`` (a
    number), ``partition`` (an operand of a region's partition), ``none``."""

    place: str
    setting: str | None = None
    call: str | None = None
    option: str | None = None
    position: int = 0
    used: frozenset[str] = field(default_factory=frozenset)
    prefix: str = ""


@dataclass
class _Frame:
    bracket: str  # "", "{", "(" or "["
    owner: str | None  # the model/structure keyword of a block, the called name of a call
    lexemes: list[Lexeme] = field(default_factory=list)


def context_at(text: str, offset: int) -> Context:
    lexemes = lex(text[:offset])
    if lexemes and lexemes[-1].end == offset and lexemes[-1].kind in ("comment", "string") and not (
            lexemes[-1].kind == "string" and len(lexemes[-1].text) > 1 and lexemes[-1].text.endswith('"')):
        return Context("none")  # typing inside a comment or a string
    lexemes = [x for x in lexemes if x.kind != "comment"]
    prefix = ""
    if lexemes and lexemes[-1].kind == "name" and lexemes[-1].end == offset:
        prefix = lexemes.pop().text
    frame = _innermost(lexemes)
    if frame.bracket == "(" and frame.owner is not None:
        return _in_call(frame, prefix)
    if frame.bracket in ("(", "["):
        return Context("expression", prefix=prefix)
    return _in_block(frame, prefix)


def _innermost(lexemes: list[Lexeme]) -> _Frame:
    stack = [_Frame("", None)]
    for lexeme in lexemes:
        frame = stack[-1]
        if lexeme.text in _OPENERS and lexeme.kind == "other":
            owner = None
            previous = frame.lexemes[-1] if frame.lexemes else None
            if previous is not None and previous.kind == "name":
                owner = previous.text
            if lexeme.text == "{":
                owner = "structure" if owner == "structure" else "model"
            stack.append(_Frame(lexeme.text, owner))
        elif lexeme.text in _CLOSERS and lexeme.kind == "other":
            if len(stack) > 1:
                stack.pop()
            stack[-1].lexemes.append(Lexeme("group", lexeme.text, lexeme.start, lexeme.end))
        else:
            frame.lexemes.append(lexeme)
    return stack[-1]


def _in_call(frame: _Frame, prefix: str) -> Context:
    arguments: list[list[Lexeme]] = [[]]
    for lexeme in frame.lexemes:
        if lexeme.text == "," and lexeme.kind == "other":
            arguments.append([])
        else:
            arguments[-1].append(lexeme)
    current, done = arguments[-1], arguments[:-1]
    named = frozenset(a[0].text for a in done if len(a) >= 2 and a[1].text == "=")
    position = len(done)
    if not current:
        return Context("argument", call=frame.owner, position=position, used=named, prefix=prefix)
    if len(current) >= 2 and current[0].kind == "name" and current[1].text == "=":
        if len(current) == 2 or current[-1].text in OPERATORS:
            return Context("option_value", call=frame.owner, option=current[0].text, prefix=prefix)
        return Context("none", prefix=prefix)
    if current[-1].text in OPERATORS:
        return Context("expression", prefix=prefix)
    return Context("none", prefix=prefix)


def _in_block(frame: _Frame, prefix: str) -> Context:
    block = (frame.owner or "model") if frame.bracket == "{" else "top"
    lexemes = frame.lexemes
    last = lexemes[-1] if lexemes else None
    before = lexemes[-2] if len(lexemes) >= 2 else None
    if last is None:
        return Context(block, prefix=prefix)
    if last.kind == "name" and (last.text in KEYWORDS or (
            before is not None and before.kind == "name" and before.text in ("const", "model", "region"))):
        return Context("none", prefix=prefix)  # a name being declared, or '=' or '{', comes next
    if _ends_value(last):
        return Context(block, used=_setting_keys(lexemes), prefix=prefix)
    if block == "structure" and last.text in ("=", "*", "|"):
        return Context("partition", prefix=prefix)
    if last.text == "=" and before is not None and before.kind == "name":
        introducer = lexemes[-3].text if len(lexemes) >= 3 else None
        if block == "model" and introducer != "const":
            return Context("value", setting=before.text, prefix=prefix)
        return Context("expression", prefix=prefix)
    if last.text in OPERATORS:
        return Context("expression", prefix=prefix)
    return Context("none", prefix=prefix)


def _ends_value(lexeme: Lexeme) -> bool:
    return lexeme.kind in ("name", "number", "string", "group")


def _setting_keys(lexemes: list[Lexeme]) -> frozenset[str]:
    """Keys of the ``key = ...`` settings already written in a block."""
    return frozenset(
        lexemes[i].text for i in range(len(lexemes) - 1)
        if lexemes[i].kind == "name" and lexemes[i + 1].text == "="
        and (i == 0 or lexemes[i - 1].text not in ("const", "region")))
