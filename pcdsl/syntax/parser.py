"""Parse ``.pc`` source text into the typed AST, turning Lark's errors into diagnostics."""

from __future__ import annotations

import dataclasses
import functools
from contextvars import ContextVar

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pcdsl.diagnostics import CompileError, Span, closest, error
from pcdsl.syntax import ast
from pcdsl.syntax.grammar import build_parser, lark_parser, load_parser

KEYWORDS = ("const", "model", "structure", "region")

# The largest integer a spec may write or compute: what an int64 holds, as every count,
# size and seed ends up in a tensor, a shape or numpy's RandomState.
LARGEST_INTEGER = 2**63 - 1
INTEGER_RANGE = f"integers are at most {LARGEST_INTEGER} (2**63 - 1)"

# How each terminal of the grammar reads in an "expected ..." message.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "$END": "end of file",
}


def parse_source(text: str, path: str = "<string>") -> ast.SpecFile:
    """Parse a whole file; raise ``CompileError`` with one syntax diagnostic on failure."""
    parser = lark_parser()
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise CompileError([_syntax_diagnostic(exc, text, path)]) from None
    return _to_ast(tree, path, text)


def _to_ast(tree: Tree, path: str, text: str) -> ast.SpecFile:
    """The AST of a parse tree; raises ``CompileError`` for integer literals out of range."""
    converter = _ToAst(path, text)
    spec = converter.transform(tree)
    if converter.diagnostics:
        raise CompileError(converter.diagnostics)
    return spec


def shortened(text: str, keep: int = 12) -> str:
    """A long literal cut to its ends, for a message: ``99999…99999 (400 characters)``."""
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}…{text[-keep:]} ({len(text)} characters)"


def _span_of_token(token: Token, path: str) -> Span:
    return Span(path, token.line or 1, token.column or 1,
                token.end_line or token.line or 1, token.end_column or (token.column or 1) + 1)


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'"


def _expected_list(names: set[str] | frozenset[str]) -> str:
    words = sorted({_describe_terminal(n) for n in names})
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _keywords_in(names: set[str] | frozenset[str]) -> list[str]:
    found = []
    for name in names:
        word = _describe_terminal(name).strip("'")
        if word in KEYWORDS:
            found.append(word)
    return found


def _previous_token(text: str, line: int, column: int) -> Token | None:
    """The last token that ends before (line, column), found by re-lexing the prefix."""
    previous = None
    try:
        for token in lark_parser().lex(text):
            if (token.line, token.column) >= (line, column):
                break
            previous = token
    except UnexpectedInput:
        pass
    return previous


def _syntax_diagnostic(exc: UnexpectedInput, text: str, path: str):
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = Span(path, exc.line, exc.column, exc.line, exc.column + 1)
        hint = None
        if char == "-":
            hint = "names use underscores, as in 'quad_graph'"
        elif char in "'":
            hint = "strings use double quotes"
        return error("syntax", f"unexpected character {char!r}", span,
                     hint or f"expected {_expected_list(exc.allowed or set())}")
    if isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        span = Span(path, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        return error("syntax", "unexpected end of file",
                     span, f"expected {_expected_list(set(exc.expected))}")
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    expected = set(exc.expected)
    if exc.interactive_parser is not None:
        # The LALR state's exact follow set: Lark's `expected` can be wider.
        expected = set(exc.interactive_parser.accepts()) or expected
    if token.type == "$END":
        return _syntax_diagnostic(UnexpectedEOF(list(expected)), text, path)
    span = _span_of_token(token, path)
    shown = "end of file" if token.type == "$END" else repr(str(token))
    keywords = _keywords_in(expected)
    # A misspelt keyword, e.g. `modle m {` at top level.
    if token.type == "NAME" and keywords:
        suggestion = closest(str(token), keywords)
        if suggestion:
            return error("syntax", f"unknown keyword '{token}'", span,
                         f"did you mean '{suggestion}'? (expected {_expected_list(expected)})")
    # A misspelt keyword followed by its brace, e.g. `strucutre {` inside a model.
    if str(token) == "{":
        previous = _previous_token(text, token.line, token.column)
        if previous is not None and previous.type == "NAME":
            suggestion = closest(str(previous), KEYWORDS)
            if suggestion:
                return error("syntax", f"unknown keyword '{previous}'",
                             _span_of_token(previous, path), f"did you mean '{suggestion}'?")
    hint = f"expected {_expected_list(expected)}"
    if str(token) == "-":
        previous = _previous_token(text, token.line, token.column)
        if previous is not None and previous.type == "NAME":
            hint = f"names use underscores, as in '{previous}_...'; {hint}"
    return error("syntax", f"unexpected {shown}", span, hint)


def _join(path: str, first: Span, last: Span) -> Span:
    return Span(path, first.line, first.column, last.end_line, last.end_column)


class _ToAst(Transformer):
    """Bottom-up conversion of the Lark parse tree into ``pcdsl.syntax.ast`` nodes."""

    def __init__(self, path: str, text: str) -> None:
        super().__init__()
        self.path = path
        self.text = text
        self.diagnostics: list = []  # literals out of range, reported after the whole file

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.path, 1, 1, 1, 1)
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _ident(self, token: Token) -> ast.Identifier:
        return ast.Identifier(str(token), _span_of_token(token, self.path))

    @v_args(meta=True)
    def start(self, meta, items):
        lines = self.text.splitlines() or [""]
        span = Span(self.path, 1, 1, len(lines), len(lines[-1]) + 1)
        return ast.SpecFile(self.path, tuple(items), span)

    @v_args(meta=True)
    def const_decl(self, meta, children):
        name, value = children
        return ast.ConstDecl(self._ident(name), value, self._span(meta))

    @v_args(meta=True)
    def model_decl(self, meta, children):
        name, *items = children
        return ast.ModelDecl(self._ident(name), tuple(items), self._span(meta))

    @v_args(meta=True)
    def algebra_decl(self, meta, children):
        name, value = children
        return ast.AlgebraDecl(self._ident(name), value, self._span(meta))

    @v_args(meta=True)
    def setting(self, meta, children):
        key, value = children
        return ast.Setting(self._ident(key), value, self._span(meta))

    @v_args(meta=True)
    def structure_block(self, meta, children):
        return ast.StructureBlock(tuple(children), self._span(meta))

    @v_args(meta=True)
    def region_decl(self, meta, children):
        name, *partitions = children
        return ast.RegionDecl(self._ident(name), tuple(partitions), self._span(meta))

    @v_args(meta=True)
    def partition(self, meta, children):
        return ast.Partition(tuple(children), self._span(meta))

    @v_args(meta=True)
    def region_ref(self, meta, children):
        (name,) = children
        ident = self._ident(name)
        return ast.RegionRef(ident, ident.span)

    @v_args(meta=True)
    def variable_ref(self, meta, children):
        name, index = children
        return ast.VariableRef(self._ident(name), index, self._span(meta))

    @v_args(meta=True)
    def number(self, meta, children):
        (token,) = children
        text = str(token)
        span = _span_of_token(token, self.path)
        is_int = not any(c in text for c in ".eE")
        # Digits are counted before converting: int() refuses more than 4,300 of them.
        if is_int and (len(text.lstrip("0")) > len(str(LARGEST_INTEGER)) or int(text) > LARGEST_INTEGER):
            self.diagnostics.append(error("range", f"the integer {shortened(text)} is out of range",
                                          span, INTEGER_RANGE))
            return ast.Number(0, text, span)
        # A float literal beyond any double (1e999) reads as inf: the checker, which knows
        # the option it is for, reports it.
        value: int | float = int(text) if is_int else float(text)
        return ast.Number(value, text, span)

    @v_args(meta=True)
    def string(self, meta, children):
        (token,) = children
        body = str(token)[1:-1]
        value = body.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
        return ast.String(value, _span_of_token(token, self.path))

    @v_args(meta=True)
    def name(self, meta, children):
        (token,) = children
        ident = self._ident(token)
        return ast.Name(ident, ident.span)

    @v_args(meta=True)
    def call(self, meta, children):
        function, *arguments = children
        return ast.Call(self._ident(function), tuple(a for a in arguments if a is not None),
                        self._span(meta))

    @v_args(meta=True)
    def named_argument(self, meta, children):
        name, value = children
        return ast.Argument(self._ident(name), value, self._span(meta))

    @v_args(meta=True)
    def positional_argument(self, meta, children):
        (value,) = children
        return ast.Argument(None, value, self._span(meta))

    def _binary(self, operator: str, meta, children):
        left, right = children
        return ast.BinaryOp(operator, left, right, _join(self.path, left.span, right.span))

    @v_args(meta=True)
    def add(self, meta, children):
        return self._binary("+", meta, children)

    @v_args(meta=True)
    def sub(self, meta, children):
        return self._binary("-", meta, children)

    @v_args(meta=True)
    def mul(self, meta, children):
        return self._binary("*", meta, children)

    @v_args(meta=True)
    def div(self, meta, children):
        return self._binary("/", meta, children)

    @v_args(meta=True)
    def parenthesised(self, meta, children):
        # The parentheses belong to the expression's extent, so carets cover them.
        (inner,) = children
        return dataclasses.replace(inner, span=self._span(meta))

    @v_args(meta=True)
    def neg(self, meta, children):
        (operand,) = children
        return ast.Negate(operand, self._span(meta))


# Comments ------------------------------------------------------------------------------
#
# The grammar ignores comments, so the parser above never sees them. Tools that reprint
# source (the formatter) need them, so a second parser, built from the same grammar with
# a lexer callback on COMMENT, collects them on the side. The callback is fixed when Lark
# builds the lexer, so it appends to a per-call list held in a context variable.

_comment_sink: ContextVar[list[Token] | None] = ContextVar("_comment_sink", default=None)


def _collect_comment(token: Token) -> Token:
    sink = _comment_sink.get()
    if sink is not None:
        sink.append(token)
    return token


@functools.cache
def _commenting_parser(keep_all_tokens: bool) -> Lark:
    # Same grammar and parser as `lark_parser()`, so it accepts exactly the same texts.
    # Lark cannot change keep_all_tokens on shipped tables: that variant is built.
    callbacks = {"COMMENT": _collect_comment}
    if keep_all_tokens:
        return build_parser(keep_all_tokens=True, lexer_callbacks=callbacks)
    return load_parser(lexer_callbacks=callbacks)


def _parse_collecting(text: str, path: str, keep_all_tokens: bool) -> tuple[Tree, tuple[ast.Comment, ...]]:
    sink: list[Token] = []
    reset = _comment_sink.set(sink)
    try:
        tree = _commenting_parser(keep_all_tokens).parse(text)
    except UnexpectedInput as exc:
        raise CompileError([_syntax_diagnostic(exc, text, path)]) from None
    finally:
        _comment_sink.reset(reset)
    comments = tuple(ast.Comment(str(token), _span_of_token(token, path)) for token in sink)
    return tree, comments


def parse_with_comments(text: str, path: str = "<string>") -> tuple[ast.SpecFile, tuple[ast.Comment, ...]]:
    """``parse_source`` that also returns the file's comments, in source order."""
    tree, comments = _parse_collecting(text, path, keep_all_tokens=False)
    return _to_ast(tree, path, text), comments


def parse_concrete(text: str, path: str = "<string>") -> tuple[Tree, tuple[ast.Comment, ...]]:
    """The concrete syntax tree, which keeps every token (keywords, punctuation,
    parentheses, trailing commas), and the comments: what a pretty-printer needs to
    reprint a file without losing anything. Syntax errors are reported as by
    ``parse_source``."""
    return _parse_collecting(text, path, keep_all_tokens=True)
