"""The formatter: reprint a ``.pc`` file in the one canonical layout (``pcc fmt``).

Like stanc3's ``--auto-format``, the formatter is a pretty-printer: it parses the file
and prints the tree again, so the layout of the input never leaks into the output. It
prints the concrete syntax tree (``parse_concrete``), which keeps the tokens the typed AST
drops (parentheses, trailing commas), plus the comments collected beside it.

The canonical layout:

- one item (constant, model, setting, structure block, region) per line, indented by
  ``INDENT`` spaces per level of braces; ``{`` ends its line and ``}`` has its own;
- in a run of consecutive constants, settings or regions of one block (no blank line or
  other kind of item between them), the ``=`` signs are aligned, as in the examples;
- ``key = kind(option = value, ...)``: one space around ``=`` and binary operators, none
  inside brackets, ``, `` between arguments, no trailing comma; a call that does not fit
  in ``WIDTH`` columns has its arguments filled into lines aligned after its ``(`` (as
  in examples/gaussian.pc); a region whose partitions do not fit has one partition per
  line, each ``|`` under the ``=``;
- numbers and strings exactly as written; parentheses as written;
- blank lines between items are kept, at most one; none at the start or end of a block;
- comments are kept: a comment on its own line stays on its own line before the token it
  preceded; a comment after code stays at the end of that line (after a following comma,
  if any), and what came after it on the next; trailing comments of consecutive lines
  are aligned two spaces after the longest line. Trailing whitespace is removed and the
  file ends with one newline.

Idempotence rests on one invariant: every comment is printed where a reparse of the
output attaches it to the same token (a trailing comment right after its token, an
own-line comment right before its token), so the output makes the same document as the
input. ``format_source`` also checks its own output (as black does): the result must
parse to the same AST, modulo spans, with the same comments, or it raises
``FormatterBug``.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lark import Token, Tree

from pcdsl.syntax import ast
from pcdsl.syntax.parser import parse_concrete, parse_with_comments

INDENT = 2  # the examples, README and docs/language.md all indent by two spaces
WIDTH = 100  # columns a call or region may take before it is broken over several lines
COMMENT_GAP = 2  # spaces between code and a trailing comment


class FormatterBug(RuntimeError):
    """The formatter's output would not mean what its input meant: a bug in pcc."""


def format_source(text: str, path: str = "<string>") -> str:
    """``text`` in the canonical layout. Raises ``CompileError`` (one syntax diagnostic)
    when the text does not parse, ``FormatterBug`` if the result would differ in meaning
    or comments."""
    tree, comments = parse_concrete(text, path)
    formatted = render(_Builder(tree, comments).document())
    if formatted != text:  # unchanged text means what it meant: nothing to verify
        _verify(text, formatted, path)
    return formatted


# The document algebra (after Wadler's "prettier printer" and Prettier's doc builders) ----

@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Line:
    """A line break, or ``flat`` (a space or nothing) when its group fits on one line."""

    flat: str


@dataclass(frozen=True)
class Hard:
    """A line break in every case."""


@dataclass(frozen=True)
class Blank:
    """One empty line before what follows (never two in a row)."""


@dataclass(frozen=True)
class Leading:
    """A comment on its own line, before what follows."""

    text: str


@dataclass(frozen=True)
class Trailing:
    """A comment at the end of the current line."""

    text: str


@dataclass(frozen=True)
class Nest:
    indent: int
    doc: Doc


@dataclass(frozen=True)
class Align:
    """Its line breaks indent to the column where it starts (after a call's ``(``)."""

    doc: Doc


@dataclass(frozen=True)
class Fill:
    """``content, separator, content, ...``: each separator (a ``Line``) breaks only when
    the content after it would not fit on the line."""

    parts: tuple


@dataclass(frozen=True)
class Group:
    """Printed flat when it fits and ``breaks`` is false, otherwise with every ``Line``
    of its own (not of nested groups) as a line break."""

    doc: Doc
    breaks: bool


Doc = Text | Line | Hard | Blank | Leading | Trailing | Nest | Align | Fill | Group | tuple
LINE, HARD, BLANK = Line(" "), Hard(), Blank()


def group(*docs: Doc) -> Doc:
    """A group of ``docs``. Comments and hard breaks inside force it to break (a comment
    ends its line, so the group cannot be on one line), except a comment after its last
    token, which is moved out behind it."""
    inner, last = _without_last_comment(docs)
    grouped = Group(inner, _forces_break(inner))
    return grouped if last is None else (grouped, last)


def _without_last_comment(doc: Doc) -> tuple[Doc, Trailing | None]:
    if isinstance(doc, Trailing):
        return (), doc
    if isinstance(doc, tuple) and doc:
        last, comment = _without_last_comment(doc[-1])
        return (*doc[:-1], last), comment
    if isinstance(doc, Nest):
        inner, comment = _without_last_comment(doc.doc)
        return Nest(doc.indent, inner), comment
    if isinstance(doc, Align):
        inner, comment = _without_last_comment(doc.doc)
        return Align(inner), comment
    if isinstance(doc, Fill) and doc.parts:
        last, comment = _without_last_comment(doc.parts[-1])
        return Fill((*doc.parts[:-1], last)), comment
    return doc, None


def _forces_break(doc: Doc) -> bool:
    if isinstance(doc, tuple):
        return any(_forces_break(d) for d in doc)
    if isinstance(doc, Group):
        return doc.breaks
    if isinstance(doc, Nest | Align):
        return _forces_break(doc.doc)
    if isinstance(doc, Fill):
        return _forces_break(doc.parts)
    return isinstance(doc, Hard | Blank | Leading | Trailing)


# Printing a document -----------------------------------------------------------------

_FLAT, _BREAK = "flat", "break"


@dataclass
class _OutLine:
    indent: int
    text: str = ""
    comment: str | None = None  # a trailing comment, aligned when the lines are joined


# What may still be written on a line whose trailing comment is waiting: a comma after the
# commented token goes before the comment rather than at the start of the next line.
_STAYS_BEFORE_COMMENT = (",",)


class _Printer:
    """Lays out text line by line. A trailing comment is held until its line ends, so a
    comma written after it still goes before it; any other text ends the line first."""

    def __init__(self) -> None:
        self.done: list[_OutLine] = []
        self.line = _OutLine(0)
        self.pending: str | None = None
        self.held: list[tuple[str, int]] = []  # what was written after the pending comment

    def column(self, indent: int) -> int:
        return self.line.indent + len(self.line.text) if self.line.text else indent

    def newline(self) -> None:
        self.line.text = self.line.text.rstrip()
        self.line.comment = self.pending
        self.pending = None
        self.held = []
        if self.line.text or self.line.comment is not None:
            self.done.append(self.line)
        self.line = _OutLine(0)

    def write(self, text: str, indent: int) -> None:
        if not text:
            return
        if self.pending is not None:
            if text in _STAYS_BEFORE_COMMENT:
                self.held.append((text, indent))
            else:
                self.newline()
        if not self.line.text:
            text = text.lstrip()
            self.line.indent = indent
        self.line.text += text

    def blank(self) -> None:
        self.fresh()
        if self.done and (self.done[-1].text or self.done[-1].comment is not None):
            self.done.append(_OutLine(0))

    def fresh(self) -> None:
        if self.line.text or self.pending is not None:
            self.newline()

    def leading(self, text: str, indent: int) -> None:
        self.fresh()
        self.line.indent, self.line.text = indent, text
        self.newline()

    def trailing(self, text: str, indent: int) -> None:
        if self.pending is not None:
            # Two comments cannot share a line: the comma written after the first, which
            # the second follows, goes on the next line with the second.
            moved = self.held[-1:]
            self.line.text = self.line.text[:len(self.line.text) - sum(len(t) for t, _ in moved)]
            self.newline()
            for text_, indent_ in moved:
                self.write(text_, indent_)
        if not self.line.text:
            self.line.indent = indent
        self.pending = text

    def lines(self) -> list[_OutLine]:
        self.newline()
        while self.done and not self.done[-1].text and self.done[-1].comment is None:
            self.done.pop()
        return self.done


def render(doc: Doc, width: int = WIDTH) -> str:
    """Lay ``doc`` out in ``width`` columns (comments do not count)."""
    printer = _Printer()
    commands: list[tuple[int, str, Doc]] = [(0, _BREAK, doc)]
    while commands:
        indent, mode, item = commands.pop()
        if isinstance(item, tuple):
            commands.extend((indent, mode, d) for d in reversed(item))
        elif isinstance(item, Text):
            printer.write(item.text, indent)
        elif isinstance(item, Nest):
            commands.append((indent + item.indent, mode, item.doc))
        elif isinstance(item, Align):
            commands.append((printer.column(indent), mode, item.doc))
        elif isinstance(item, Fill):
            commands.extend(_fill(item, indent, mode, commands, width - printer.column(indent)))
        elif isinstance(item, Group):
            flat = not item.breaks and (mode == _FLAT or _fits(
                (indent, _FLAT, item.doc), commands, width - printer.column(indent)))
            commands.append((indent, _FLAT if flat else _BREAK, item.doc))
        elif isinstance(item, Line):
            if mode == _FLAT:
                printer.write(item.flat, indent)
            else:
                printer.newline()
        elif isinstance(item, Hard):
            printer.newline()
        elif isinstance(item, Blank):
            printer.blank()
        elif isinstance(item, Leading):
            printer.leading(item.text, indent)
        elif isinstance(item, Trailing):
            printer.trailing(item.text, indent)
        else:  # pragma: no cover - the builder makes only the documents above
            raise TypeError(f"not a document: {item!r}")
    return _join(printer.lines())


def _fill(fill: Fill, indent: int, mode: str, rest: Sequence[tuple[int, str, Doc]],
          room: int) -> list[tuple[int, str, Doc]]:
    """The commands (to push, last first) that print the first content of ``fill``, the
    separator after it (flat when the next content fits after it too), and the rest."""
    parts = fill.parts
    if not parts:
        return []
    if mode == _FLAT:
        return [(indent, _FLAT, parts)]
    content = parts[0]
    # Only the last content is followed by what comes after the fill (a closing bracket).
    last = len(parts) == 1
    # Widths are measured up to the first forced line break (a comment ends its line), so
    # a comment decides only the breaks after it.
    flat = _fits((indent, _FLAT, content), rest if last else (), room)
    commands = [(indent, _FLAT if flat else _BREAK, content)]
    if not last:
        separator, following = parts[1], parts[2]
        both = _fits((indent, _FLAT, (content, separator, following)), rest if len(parts) == 3 else (), room)
        commands.insert(0, (indent, _FLAT if both else _BREAK, separator))
        commands.insert(0, (indent, mode, Fill(parts[2:])))
    return commands


def _fits(first: tuple[int, str, Doc], rest: Sequence[tuple[int, str, Doc]], room: int) -> bool:
    """Whether ``first``, and what follows it up to the next line break, fits in ``room``."""
    stack = [first]
    taken = len(rest)
    while room >= 0:
        if not stack:
            if taken == 0:
                return True
            taken -= 1
            stack.append(rest[taken])
        _, mode, item = stack.pop()
        if isinstance(item, tuple):
            stack.extend((0, mode, d) for d in reversed(item))
        elif isinstance(item, Text):
            room -= len(item.text)
        elif isinstance(item, Nest | Align):
            stack.append((0, mode, item.doc))
        elif isinstance(item, Fill):
            stack.append((0, mode, item.parts))
        elif isinstance(item, Group):
            stack.append((0, _BREAK if item.breaks else mode, item.doc))
        elif isinstance(item, Line):
            if mode == _BREAK:
                return True
            room -= len(item.flat)
        else:  # a hard break, blank line or comment ends the line
            return True
    return False


def _join(lines: list[_OutLine]) -> str:
    """The lines as text, aligning the trailing comments of each run of consecutive
    commented lines two spaces after the longest of them."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        end = index
        while end < len(lines) and lines[end].text and lines[end].comment is not None:
            end += 1
        if end == index:  # a line without a trailing comment (or a comment alone)
            line = lines[index]
            text = line.text or (line.comment or "")
            out.append(" " * line.indent + text if text else "")
            index += 1
            continue
        run = lines[index:end]
        column = max(line.indent + len(line.text) for line in run) + COMMENT_GAP
        out.extend(f"{' ' * line.indent + line.text:<{column}}{line.comment}" for line in run)
        index = end
    return "\n".join(out) + "\n" if out else ""


# From the concrete syntax tree to a document ------------------------------------------

def _tokens(tree: Tree) -> Iterator[Token]:
    for child in tree.children:
        if isinstance(child, Token):
            yield child
        else:
            yield from _tokens(child)


def _start(token: Token) -> tuple[int, int]:
    return (token.line or 1, token.column or 1)


def _end(token: Token) -> tuple[int, int]:
    return (token.end_line or 1, token.end_column or 1)


@dataclass(frozen=True)
class _Attached:
    """The comments of one token: those on their own lines before it, and the one after it
    on its line."""

    leading: tuple[ast.Comment, ...] = ()
    trailing: ast.Comment | None = None


class _Builder:
    """Turns the concrete syntax tree into a document, with every comment attached to the
    token it belongs to (so every comment is printed exactly once)."""

    def __init__(self, tree: Tree, comments: Sequence[ast.Comment]) -> None:
        self.tree = tree
        self.tokens = list(_tokens(tree))
        self.attached: dict[int, _Attached] = {}
        self.end_comments: tuple[ast.Comment, ...] = ()
        self.blank_before: dict[int, bool] = {}  # keyed by id() of a token or a comment
        self._attach(comments)

    # Comments ------------------------------------------------------------------------

    def _attach(self, comments: Sequence[ast.Comment]) -> None:
        starts = [_start(t) for t in self.tokens]
        ends = [_end(t) for t in self.tokens]
        leading: dict[int, list[ast.Comment]] = {}
        trailing: dict[int, ast.Comment] = {}
        end_comments: list[ast.Comment] = []
        for comment in comments:
            where = (comment.span.line, comment.span.column)
            before = bisect.bisect_right(ends, where) - 1
            after = bisect.bisect_left(starts, (comment.span.end_line, comment.span.end_column))
            if before >= 0 and ends[before][0] == comment.span.line:
                trailing[before] = comment
            elif after < len(self.tokens):
                leading.setdefault(after, []).append(comment)
            else:
                end_comments.append(comment)
        for index in set(leading) | set(trailing):
            self.attached[id(self.tokens[index])] = _Attached(
                tuple(leading.get(index, ())), trailing.get(index))
        self.end_comments = tuple(end_comments)
        self._mark_blank_lines()

    def _mark_blank_lines(self) -> None:
        """Whether an empty line precedes each token and each own-line comment."""
        previous_end: int | None = None
        for token in self.tokens:
            attached = self.attached.get(id(token), _Attached())
            for comment in attached.leading:
                self.blank_before[id(comment)] = (previous_end is not None
                                                  and comment.span.line - previous_end >= 2)
                previous_end = comment.span.end_line
            self.blank_before[id(token)] = (previous_end is not None
                                            and (token.line or 1) - previous_end >= 2)
            previous_end = token.end_line or token.line or 1
            if attached.trailing is not None:
                previous_end = attached.trailing.span.end_line
        for comment in self.end_comments:
            self.blank_before[id(comment)] = (previous_end is not None
                                              and comment.span.line - previous_end >= 2)
            previous_end = comment.span.end_line

    def _comments(self, comments: Sequence[ast.Comment], first_blank: bool) -> tuple:
        """Own-line comments, keeping (single) blank lines between them; an empty line
        before the first only if ``first_blank``."""
        docs: list[Doc] = []
        for index, comment in enumerate(comments):
            if self.blank_before[id(comment)] and (index > 0 or first_blank):
                docs.append(BLANK)
            docs.append(Leading(comment.text.rstrip()))
        return tuple(docs)

    def token(self, token: Token, *, leading: bool = True) -> tuple:
        attached = self.attached.get(id(token), _Attached())
        docs: list[Doc] = []
        if leading:
            docs.extend(self._comments(attached.leading, first_blank=False))
        docs.append(Text(str(token)))
        if attached.trailing is not None:
            docs.append(Trailing(attached.trailing.text.rstrip()))
        return tuple(docs)

    def _first_token(self, node: Tree | Token) -> Token:
        return node if isinstance(node, Token) else next(_tokens(node))

    def _starts_after_blank(self, node: Tree | Token) -> bool:
        first = self._first_token(node)
        comments = self.attached.get(id(first), _Attached()).leading
        return self.blank_before[id(comments[0] if comments else first)]

    # Blocks and items ------------------------------------------------------------------

    def document(self) -> Doc:
        items = [c for c in self.tree.children if isinstance(c, Tree)]
        body = self._items(items)
        tail = self._comments(self.end_comments, first_blank=bool(items))
        return body + ((HARD,) if items and tail else ()) + tail

    def _items(self, items: Sequence[Tree]) -> tuple:
        """Items of one block, one per line, blank lines kept, ``=`` aligned per run."""
        docs: list[Doc] = []
        widths = self._key_widths(items)
        for index, item in enumerate(items):
            first = self._first_token(item)
            attached = self.attached.get(id(first), _Attached())
            if index > 0:
                docs.append(HARD)
                if self._starts_after_blank(item):
                    docs.append(BLANK)
            docs.extend(self._comments(attached.leading, first_blank=False))
            if attached.leading and self.blank_before[id(first)]:
                docs.append(BLANK)
            docs.append(self._item(item, widths[index]))
        return tuple(docs)

    def _key_widths(self, items: Sequence[Tree]) -> list[int]:
        """For each item, the width its name is padded to: the longest name in its run."""
        widths = [0] * len(items)
        start = 0
        for index in range(1, len(items) + 1):
            ends_run = (index == len(items) or items[index].data != items[start].data
                        or self._starts_after_blank(items[index]))
            if ends_run:
                run = range(start, index)
                width = max((len(self._key(items[i])) for i in run), default=0)
                for i in run:
                    widths[i] = width
                start = index
        return widths

    @staticmethod
    def _key(item: Tree) -> str:
        if item.data in ("const_decl", "region_decl", "algebra_decl"):
            return str(item.children[1])
        if item.data == "setting":
            return str(item.children[0])
        return ""

    def _item(self, item: Tree, width: int) -> Doc:
        children = item.children
        if item.data == "const_decl":
            keyword, name, equals, value = children
            return (self.token(keyword, leading=False), Text(" "), self._assignment(name, equals, width),
                    self._value(value))
        if item.data == "setting":
            key, equals, value = children
            return (self.token(key, leading=False), self._assignment(None, equals, width - len(key)),
                    self._value(value))
        if item.data == "algebra_decl":  # model NAME = operation(MODEL)
            keyword, name, equals, value = children
            return (self.token(keyword, leading=False), Text(" "), self._assignment(name, equals, width),
                    self._value(value))
        if item.data == "model_decl":
            keyword, name, *rest = children
            return (self.token(keyword, leading=False), Text(" "), self.token(name), Text(" "),
                    self._block(rest))
        if item.data == "structure_block":
            keyword, *rest = children
            return (self.token(keyword, leading=False), Text(" "), self._block(rest))
        if item.data == "region_decl":
            return self._region(item, width)
        raise AssertionError(f"unexpected item {item.data}")

    def _assignment(self, name: Token | None, equals: Token, width: int) -> tuple:
        """``name`` padded to ``width``, then `` = `` (``name`` is None for a setting, whose
        key is already written)."""
        written = self.token(name) if name is not None else ()
        padding = width - (len(str(name)) if name is not None else 0)
        return (*written, Text(" " * padding + " "), self.token(equals), Text(" "))

    def _block(self, children: Sequence[Tree | Token]) -> tuple:
        """``{ items }``: the items indented on their own lines, ``}`` on its own."""
        open_brace, *items, close_brace = children
        assert isinstance(open_brace, Token) and isinstance(close_brace, Token)
        trees = [c for c in items if isinstance(c, Tree)]
        dangling = self.attached.get(id(close_brace), _Attached()).leading
        if not trees and not dangling:
            return (self.token(open_brace), self.token(close_brace))
        inner = self._items(trees)
        tail = self._comments(dangling, first_blank=bool(trees))
        body = (HARD, *inner, *((HARD,) if trees and tail else ()), *tail)
        return (self.token(open_brace), Nest(INDENT, body), HARD, self.token(close_brace, leading=False))

    def _region(self, item: Tree, width: int) -> Doc:
        """``region NAME = partition | ...``: on one line when it fits, else one partition
        per line with the ``|`` under the ``=``."""
        keyword, name, equals, *rest = item.children
        alternatives: list[Doc] = [self._partition(rest[0])]
        for bar, partition in zip(rest[1::2], rest[2::2]):
            alternatives.extend((LINE, self.token(bar), Text(" "), self._partition(partition)))
        padding = Text(" " * (width - len(str(name))) + " ")
        return (self.token(keyword, leading=False), Text(" "), self.token(name), padding,
                Align(group(self.token(equals), Text(" "), *alternatives)))

    def _partition(self, partition: Tree) -> tuple:
        docs: list[Doc] = []
        for child in partition.children:
            if isinstance(child, Token):  # the '*' between operands
                docs.extend((Text(" "), self.token(child), Text(" ")))
            else:
                docs.append(self._expression(child))
        return tuple(docs)

    # Expressions ---------------------------------------------------------------------

    def _value(self, value: Tree) -> Doc:
        # A call indents its own arguments; anything else indents its continuation lines
        # (after a comment) under the line it starts on.
        document = self._expression(value)
        return document if _is_call(value) else Nest(INDENT, document)

    def _expression(self, node: Tree | Token) -> Doc:
        if isinstance(node, Token):
            return self.token(node)
        kind, children = node.data, node.children
        if kind in ("add", "sub", "mul", "div"):
            left, operator, right = children
            return (self._expression(left), Text(" "), self.token(operator), Text(" "),
                    self._expression(right))
        if kind == "call":
            return self._call(node)
        if kind == "named_argument":
            name, equals, value = children
            return (self.token(name), Text(" "), self.token(equals), Text(" "), self._value(value))
        # number, string, name, neg, parenthesised, positional_argument, region_ref,
        # variable_ref: their tokens and subexpressions in order, with no spaces.
        return tuple(self._expression(child) for child in children)

    def _call(self, node: Tree) -> Doc:
        """``kind(arguments)``: on one line when it fits, else the arguments filled into
        lines aligned after the ``(``."""
        name, open_paren, *inside, close_paren = node.children
        assert isinstance(name, Token) and isinstance(open_paren, Token) and isinstance(close_paren, Token)
        # Comments above the kind's name stay above the call rather than break it open.
        above = self._comments(self.attached.get(id(name), _Attached()).leading, first_blank=False)
        head = (self.token(name, leading=False), self.token(open_paren))
        if not inside:
            return (*above, group(*head, self.token(close_paren)))
        comma = inside[-1] if isinstance(inside[-1], Token) else None  # a trailing comma
        contents: list[tuple] = []  # each argument with the comma after it
        current: list[Doc] = []
        for child in inside[:-1] if comma is not None else inside:
            if isinstance(child, Token):  # a ',' between arguments
                contents.append(self._with_comma(tuple(current), child))
                current = []
            else:
                current.append(self._expression(child))
        contents.append(tuple(current))
        # A trailing comma is not printed. Its comments are, where a reparse of the output
        # would attach them: its trailing comment to the last argument (unless comments on
        # their own lines come first), the others to the ')'.
        between: list[Doc] = []
        if comma is not None:
            attached = self.attached.get(id(comma), _Attached())
            between.extend(self._comments(attached.leading, first_blank=False))
            if attached.trailing is not None:
                trailing = Trailing(attached.trailing.text.rstrip())
                if between:
                    between.append(trailing)
                else:
                    contents[-1] = (*contents[-1], trailing)
        between.extend(self._comments(self.attached.get(id(close_paren), _Attached()).leading,
                                      first_blank=False))
        parts: list[Doc] = [contents[0]]
        for content in contents[1:]:
            parts.extend((LINE, content))
        close = self.token(close_paren, leading=False)
        return (*above, group(*head, Align((Fill(tuple(parts)), *between, close))))

    def _with_comma(self, argument: tuple, comma: Token) -> tuple:
        """An argument and the comma after it. A comment at the end of the argument is
        printed after the comma (see ``_STAYS_BEFORE_COMMENT``), so it is put there, as a
        reparse of the output would attach it: input and output make the same document."""
        attached = self.attached.get(id(comma), _Attached())
        if attached.trailing is None and not attached.leading:
            body, comment = _without_last_comment(argument)
            if comment is not None:
                return (*_flat(body), Text(","), comment)
        return (*argument, self.token(comma))


def _flat(doc: Doc) -> tuple:
    return doc if isinstance(doc, tuple) else (doc,)


def _is_call(node: Tree | Token) -> bool:
    return isinstance(node, Tree) and node.data == "call"


# Checking the output -------------------------------------------------------------------

def without_spans(node: object) -> object:
    """An AST node as nested tuples, without its spans (and file path): what two
    layouts of the same spec have in common."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            without_spans(getattr(node, f.name)) for f in dataclasses.fields(node)
            if f.name not in ("span", "path"))
    if isinstance(node, tuple):
        return tuple(without_spans(n) for n in node)
    return node


def comment_texts(comments: Sequence[ast.Comment]) -> list[str]:
    return [c.text.rstrip() for c in comments]


def _verify(before: str, after: str, path: str) -> None:
    """Raise ``FormatterBug`` unless ``after`` means what ``before`` meant, with the same
    comments in the same order."""
    old_tree, old_comments = parse_with_comments(before, path)
    try:
        new_tree, new_comments = parse_with_comments(after, path)
    except Exception as exc:  # the output must parse; anything else is the formatter's bug
        raise FormatterBug(f"the formatted {path} does not parse: {exc}") from None
    if without_spans(new_tree) != without_spans(old_tree):
        raise FormatterBug(f"formatting {path} would change its meaning")
    if comment_texts(new_comments) != comment_texts(old_comments):
        raise FormatterBug(f"formatting {path} would lose or reorder comments")
