"""The language server's answers, as pure functions of the document text.

``analyse`` runs the compiler's frontend and structure passes once per version of a
document (as ``pcc check`` does, without folding) and keeps what the other questions
need: the AST, the compiled models and the diagnostics. Positions here are ``Point``s
(0-based, in characters); the server converts them to the client's units.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pcdsl.diagnostics import CompileError, Diagnostic, Span
from pcdsl.driver import CompiledFile, compile_source
from pcdsl.lsp import docs
from pcdsl.lsp.context import Context, context_at, declared, word_at
from pcdsl.lsp.positions import Point, offset_of, split_lines
from pcdsl.syntax import ast, schema
from pcdsl.syntax.check import check_file
from pcdsl.syntax.parser import parse_source


@dataclass(frozen=True)
class Analysis:
    text: str
    path: str
    tree: ast.SpecFile | None  # None when the text does not parse
    compiled: CompiledFile | None  # None when some model has errors, or not compiled yet
    diagnostics: tuple[Diagnostic, ...]
    complete: bool = True  # False: only parsed and checked (lowering still to come)


def analyse(text: str, path: str) -> Analysis:
    """Parse, check, lower and analyse structure; never raises on a bad spec."""
    try:
        tree = parse_source(text, path)
    except CompileError as exc:
        return Analysis(text, path, None, None, exc.diagnostics)
    try:
        # Structure violations are reported (as by `pcc check`) but do not stop the
        # other models: hover still describes a model that is not smooth.
        compiled = compile_source(text, path, fold=False, require_valid=False)
    except CompileError as exc:
        return Analysis(text, path, tree, None, exc.diagnostics)
    structure = tuple(d for model in compiled.models for d in model.report.errors)
    return Analysis(text, path, tree, compiled, structure + compiled.warnings)


def frontend(text: str, path: str) -> Analysis:
    """Parse and check only: fast whatever the size of the models, for when lowering a
    large one takes a while. Complete when it finds errors (lowering would not run)."""
    try:
        tree = parse_source(text, path)
    except CompileError as exc:
        return Analysis(text, path, None, None, exc.diagnostics)
    try:
        _, warnings = check_file(tree)
    except CompileError as exc:
        return Analysis(text, path, tree, None, exc.diagnostics)
    return Analysis(text, path, tree, None, tuple(warnings), complete=False)


# What is under the cursor --------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """A name in the AST and what it is there.

    ``role``: model, setting, const (declared), constant-or-kind (a ``Name`` value), kind
    (a called name), option, region (declared), region_ref, variable."""

    identifier: ast.Identifier
    role: str
    model: ast.ModelDecl | None = None
    call: ast.Call | None = None
    structure: ast.StructureBlock | None = None


def occurrences(tree: ast.SpecFile) -> Iterator[Occurrence]:
    for item in tree.items:
        if isinstance(item, ast.ConstDecl):
            yield Occurrence(item.name, "const")
            yield from _in_expression(item.value, None)
            continue
        if isinstance(item, ast.AlgebraDecl):  # model NAME = operation(MODEL, ...)
            yield Occurrence(item.name, "model")
            yield Occurrence(item.value.function, "operation", call=item.value)
            for argument in item.value.arguments:
                if isinstance(argument.value, ast.Name):
                    yield Occurrence(argument.value.identifier, "model_ref")
            continue
        yield Occurrence(item.name, "model", item)
        for member in item.items:
            if isinstance(member, ast.ConstDecl):
                yield Occurrence(member.name, "const", item)
                yield from _in_expression(member.value, item)
            elif isinstance(member, ast.Setting):
                yield Occurrence(member.key, "setting", item)
                yield from _in_expression(member.value, item)
            else:
                yield from _in_structure(member, item)


def _in_structure(block: ast.StructureBlock, model: ast.ModelDecl) -> Iterator[Occurrence]:
    for region in block.regions:
        yield Occurrence(region.name, "region", model, structure=block)
        for partition in region.partitions:
            for operand in partition.operands:
                if isinstance(operand, ast.RegionRef):
                    yield Occurrence(operand.identifier, "region_ref", model, structure=block)
                else:
                    yield Occurrence(operand.identifier, "variable", model)
                    yield from _in_expression(operand.index, model)


def _in_expression(expr: ast.Expr, model: ast.ModelDecl | None) -> Iterator[Occurrence]:
    if isinstance(expr, ast.Name):
        yield Occurrence(expr.identifier, "name", model)
    elif isinstance(expr, ast.Call):
        yield Occurrence(expr.function, "kind", model, expr)
        for argument in expr.arguments:
            if argument.name is not None:
                yield Occurrence(argument.name, "option", model, expr)
            yield from _in_expression(argument.value, model)
    elif isinstance(expr, ast.BinaryOp):
        yield from _in_expression(expr.left, model)
        yield from _in_expression(expr.right, model)
    elif isinstance(expr, ast.Negate):
        yield from _in_expression(expr.operand, model)


def _contains(span: Span, point: Point) -> bool:
    # Inclusive of the end, so the cursor just after a name still hovers it.
    return (span.line - 1 == point.line == span.end_line - 1
            and span.column - 1 <= point.character <= span.end_column - 1)


def occurrence_at(tree: ast.SpecFile, point: Point) -> Occurrence | None:
    return next((o for o in occurrences(tree) if _contains(o.identifier.span, point)), None)


# Hover -----------------------------------------------------------------------------------

def hover(analysis: Analysis, point: Point) -> tuple[str, Span | None] | None:
    """Markdown about what is under ``point``, with the span it is about."""
    found = occurrence_at(analysis.tree, point) if analysis.tree is not None else None
    if found is not None:
        text = _hover_occurrence(analysis, found)
        if text is not None:
            return text, found.identifier.span
    lines = split_lines(analysis.text)
    word = word_at(analysis.text, offset_of(lines, point))
    if word is None:
        return None
    text = _hover_word(analysis.text, word.text, word.start)
    return (text, None) if text is not None else None


def _hover_occurrence(analysis: Analysis, found: Occurrence) -> str | None:
    name = found.identifier.name
    if found.role in ("model", "model_ref"):
        return model_markdown(analysis, name)
    if found.role == "operation":
        return docs.OPERATIONS.get(name)
    if found.role == "option" and found.call is not None:
        kind = schema.kind_named(found.call.function.name)
        option = kind.option(name) if kind is not None else None
        return docs.option_markdown(kind, option) if kind and option else None
    if found.role == "setting":
        setting = schema.setting_named(name)
        return docs.setting_markdown(setting) if setting is not None else None
    if found.role in ("name", "const"):
        declaration = constant_declaration(analysis.tree, name, found.model) if analysis.tree else None
        if declaration is not None:
            source = _source_of(analysis.text, declaration.value.span)
            return f"**{name}**: constant\n\n```\nconst {name} = {source}\n```"
        return docs.word_markdown(name)
    if found.role in ("region", "region_ref") and found.structure is not None:
        region = _declared_region(found)
        if region is not None:
            return f"**{name}**: region\n\n```\n{_source_of(analysis.text, region.span)}\n```"
        return None
    if found.role == "variable":
        return docs.VARIABLE_DOC
    return docs.word_markdown(name)


def _hover_word(text: str, word: str, start: int) -> str | None:
    """Hover without a tree (the text does not parse): by the name alone, or as an option
    name when it sits inside a call."""
    context = context_at(text, start)
    if context.place == "argument" and context.call is not None:
        kind = schema.kind_named(context.call)
        option = kind.option(word) if kind is not None else None
        if kind is not None and option is not None:
            return docs.option_markdown(kind, option)
    return docs.word_markdown(word)


def model_markdown(analysis: Analysis, name: str) -> str:
    """Parameter count and structural properties of a model, from its compilation."""
    header = f"**model {name}**"
    if not analysis.complete:
        return f"{header}\n\nstill compiling (a large model): hover again in a moment"
    if analysis.compiled is None:
        errors = sum(1 for d in analysis.diagnostics if d.is_error)
        return f"{header}\n\nnot compiled: the file has {errors} error{'s' * (errors != 1)}"
    model = next((m for m in analysis.compiled.models if m.spec.name == name), None)
    if model is None:
        return header
    circuit, report = model.circuit, model.report
    yes_no = {True: "yes", False: "no"}
    lines = [header, ""]
    if model.algebra is not None:
        operands = model.algebra.operands
        density = (f"{operands[0]}(x)^2" if model.algebra.operation == "square"
                   else " ".join(f"{name}(x)" for name in operands))
        lines += [f"- {model.algebra.operation}({', '.join(operands)}): p(x) = {density} / Z, "
                  "normalised exactly",
                  f"- Z: {len(model.algebra.plan.nodes):,} Gram matrices, the largest "
                  f"{max(n.rows for n in model.algebra.plan.nodes)} x "
                  f"{max(n.columns for n in model.algebra.plan.nodes)}"]
    return "\n".join(lines + [
        f"- parameters: {circuit.num_parameters:,}",
        f"- variables: {circuit.num_variables:,} with {circuit.num_values} values",
        f"- layers: {len(circuit.layers):,}",
        f"- smooth: {yes_no[report.is_smooth]}",
        f"- decomposable: {yes_no[report.is_decomposable]}",
        f"- structured-decomposable: {yes_no[report.is_structured_decomposable]}",
    ])


def _source_of(text: str, span: Span) -> str:
    lines = split_lines(text)
    start = offset_of(lines, Point(span.line - 1, span.column - 1))
    end = offset_of(lines, Point(span.end_line - 1, span.end_column - 1))
    return text[start:end]


# Definition ----------------------------------------------------------------------------

def constant_declaration(tree: ast.SpecFile, name: str,
                         model: ast.ModelDecl | None) -> ast.ConstDecl | None:
    """The constant ``name`` as seen from ``model`` (None: file level): the model's own
    constants first, then the file's."""
    local = [c for c in model.items if isinstance(c, ast.ConstDecl)] if model is not None else []
    scopes = local + list(tree.constants)
    return next((c for c in scopes if c.name.name == name), None)


def _declared_region(found: Occurrence) -> ast.RegionDecl | None:
    """The declaration of the region a ``region`` or ``region_ref`` occurrence names, in
    its structure block."""
    assert found.structure is not None
    return next((r for r in found.structure.regions if r.name.name == found.identifier.name),
                None)


def definition(analysis: Analysis, point: Point) -> Span | None:
    """Where the constant or region under ``point`` is declared."""
    if analysis.tree is not None:
        found = occurrence_at(analysis.tree, point)
        if found is None:
            return None
        name = found.identifier.name
        if found.role in ("name", "const"):
            declaration = constant_declaration(analysis.tree, name, found.model)
            return declaration.name.span if declaration is not None else None
        if found.role in ("region", "region_ref") and found.structure is not None:
            region = _declared_region(found)
            return region.name.span if region is not None else None
        if found.role == "model_ref":
            return next((d.name.span for d in analysis.tree.models if d.name.name == name), None)
        return None
    # The text does not parse: find a declaration of that name lexically.
    lines = split_lines(analysis.text)
    word = word_at(analysis.text, offset_of(lines, point))
    if word is None:
        return None
    for keyword in ("const", "region"):
        for name in declared(analysis.text, keyword):
            if name.text == word.text:
                return _span_at(analysis, name.start, name.end)
    return None


def _span_at(analysis: Analysis, start: int, end: int) -> Span:
    before = analysis.text[:start]
    line = before.count("\n") + 1
    column = start - (before.rfind("\n") + 1) + 1
    return Span(analysis.path, line, column, line, column + end - start)


# Completion ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    label: str
    kind: str  # keyword, setting, kind, option, value, constant, region, variable
    detail: str = ""
    documentation: str = ""
    insert: str | None = None  # text to insert, when not the label


def completions(text: str, point: Point) -> list[Candidate]:
    context = context_at(text, offset_of(split_lines(text), point))
    return _candidates(context, text)


def _candidates(context: Context, text: str) -> list[Candidate]:
    place = context.place
    if place == "top":
        return [_keyword("const"), _keyword("model")]
    if place == "model":
        settings = [_setting(s) for s in schema.SETTINGS if s.key not in context.used]
        return settings + [_keyword("const"), _keyword("structure")]
    if place == "structure":
        return [_keyword("region")]
    if place == "value":
        setting = schema.setting_named(context.setting or "")
        if setting is None:
            return [_kind(k) for k in schema.KINDS]
        return _values(setting.type, setting.category, setting.choices, text, setting.doc)
    if place == "argument":
        kind = schema.kind_named(context.call or "")
        if kind is None:
            return []
        options = [_option(kind, o) for o in kind.options if o.name not in context.used]
        if context.position < len(kind.options) and not context.used:
            positional = kind.options[context.position]
            options += _values(positional.type, positional.category, positional.choices, text, "")
        return options
    if place == "option_value":
        kind = schema.kind_named(context.call or "")
        option = kind.option(context.option or "") if kind is not None else None
        if option is None:
            return _constants(text)
        return _values(option.type, option.category, option.choices, text, option.doc)
    if place == "expression":
        return _constants(text)
    if place == "partition":
        regions = [Candidate(n.text, "region", "region") for n in declared(text, "region")]
        unique = list({c.label: c for c in regions}.values())
        return unique + [Candidate("x", "variable", "variable x[i]", docs.VARIABLE_DOC, "x[")]
    return []


def _values(value_type: str, category: str | None, choices: tuple | None, text: str,
            doc: str) -> list[Candidate]:
    if value_type == "kind" and category is not None:
        return [_kind(k) for k in schema.kinds_of(category).values()]
    if choices:
        return [Candidate(str(c), "value", "one of " + ", ".join(map(str, choices)), doc) for c in choices]
    return _constants(text)


def _constants(text: str) -> list[Candidate]:
    names = dict.fromkeys(n.text for n in declared(text, "const"))
    return [Candidate(name, "constant", "constant") for name in names]


def _keyword(word: str) -> Candidate:
    return Candidate(word, "keyword", "keyword", docs.KEYWORD_DOCS.get(word, ""))


def _setting(setting: schema.SettingSchema) -> Candidate:
    return Candidate(setting.key, "setting", "setting: " + docs.setting_takes(setting),
                     docs.setting_markdown(setting), f"{setting.key} = ")


def _kind(kind: schema.Kind) -> Candidate:
    category = schema.CATEGORY_NAMES.get(kind.category, kind.category)
    return Candidate(kind.name, "kind", category, docs.kind_markdown(kind))


def _option(kind: schema.Kind, option: schema.Option) -> Candidate:
    return Candidate(option.name, "option", f"option of {kind.name}: {docs.option_type(option)}",
                     docs.option_markdown(kind, option), f"{option.name} = ")
