"""The thin driver: run the stages in order on one file, collecting diagnostics.

Frontend (parse, check) -> size guard (``ir/budget.py``) -> lower -> structure passes
and lint -> fold -> codegen. Each stage is a pure function; the driver only threads
results, stops at the first stage that reports errors, and turns a spec nested deeper
than Python's recursion limit into a diagnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pcdsl.diagnostics import CompileError, Diagnostic, Severity, Span, error
from pcdsl.files import text_sha256
from pcdsl.ir.algebra import (
    Algebra,
    gram_plan,
    mixture_circuit,
    multiply_diagnostics,
    product_circuit,
    square_diagnostics,
)
from pcdsl.ir.budget import size_errors
from pcdsl.ir.circuit import Circuit
from pcdsl.ir.lower import lower_model
from pcdsl.passes.fold import FoldedCircuit, fold_layers
from pcdsl.passes.lint import lint_model
from pcdsl.passes.structure import StructureReport, analyze_structure
from pcdsl.syntax.check import check_algebra, check_file
from pcdsl.syntax.parser import parse_source
from pcdsl.syntax.typed import ModelSpec


@dataclass(frozen=True)
class CompiledModel:
    spec: ModelSpec
    circuit: Circuit
    report: StructureReport
    folded: FoldedCircuit
    algebra: Algebra | None = None  # a model made from others (square(base)); else None
    mixture: tuple[str, ...] = ()  # mixture(a, b, ...): the components; else empty


@dataclass(frozen=True)
class CompiledFile:
    path: str
    source: str
    sha256: str
    models: tuple[CompiledModel, ...]
    warnings: tuple[Diagnostic, ...]

    def model(self, name: str | None) -> CompiledModel:
        if name is None:
            if len(self.models) != 1:
                names = ", ".join(m.spec.name for m in self.models)
                raise CompileError([error(
                    "usage", f"{self.path} declares {len(self.models)} models ({names})", None,
                    "choose one with --model NAME")])
            return self.models[0]
        for m in self.models:
            if m.spec.name == name:
                return m
        from pcdsl.diagnostics import did_you_mean
        raise CompileError([error("usage", f"{self.path} declares no model '{name}'", None,
                                  did_you_mean(name, [m.spec.name for m in self.models]))])


# Specs are small text files (the largest example is under 2 kB); reading more than this
# is a wrong file (`pcc check /dev/zero` would read until memory ran out).
MAX_SPEC_BYTES = 16 * 2**20


def read_spec(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise CompileError([error(
                "io", f"cannot read {path}: it is over {MAX_SPEC_BYTES // 2**20} MiB; specs are "
                "small text files — is it the right file?", None)])
        # Universal newlines, as open() in text mode: \r\n and a lone \r end lines.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CompileError([error("io", f"cannot read {path}: {reason}", None)]) from None


def compile_source(source: str, path: str, *, fold: bool = True,
                   require_valid: bool = True,
                   files: Mapping[str, bytes] | None = None) -> CompiledFile:
    """Run every stage on ``source``. With ``require_valid``, structure violations
    (non-smooth, non-decomposable) raise ``CompileError``; otherwise they are reported
    in each model's ``report``. ``files`` (path as the spec writes it -> bytes) stands in
    for the disk when the spec reads a file, such as a Chow-Liu tree: a spec rebuilt from a
    checkpoint reads only what the checkpoint carries."""
    try:
        ast_file = parse_source(source, path)
        specs, found = check_file(ast_file)
        algebra = check_algebra(ast_file)
    except RecursionError:
        # The parser's tree transformer and the checker recurse on nesting; a spec deeper
        # than Python's stack gets a diagnostic rather than an internal error.
        raise CompileError([too_deep(source, path)]) from None
    warnings = list(found)
    models = []
    errors: list[Diagnostic] = []
    for spec in specs:
        guarded = size_errors(spec)
        if guarded:
            errors.extend(guarded)
            continue
        try:
            circuit = lower_model(spec, files)
        except CompileError as exc:
            errors.extend(exc.diagnostics)
            continue
        report = analyze_structure(circuit)
        warnings.extend(lint_model(circuit, spec))
        if require_valid and report.errors:
            errors.extend(report.errors)
            continue
        folded = fold_layers(circuit) if fold else None
        models.append(CompiledModel(spec, circuit, report, folded))  # type: ignore[arg-type]
    compiled = {m.spec.name: m for m in models}
    for made in algebra:  # the operands are lowered above (or failed, reported there)
        operands = [compiled.get(name) for name in made.operands]
        if None in operands:
            continue
        try:
            if made.operation == "square":
                models.append(square_model(operands[0], made.name, made.operation_span))
            elif made.operation == "mixture":
                models.append(mixture_model(operands, made.name, made.operation_span))
            else:
                models.append(multiply_models(*operands, made.name, made.operation_span))
        except CompileError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise CompileError(errors + warnings)
    digest = text_sha256(source)
    return CompiledFile(path, source, digest, tuple(models), tuple(warnings))


def compile_file(path: str, **kwargs) -> CompiledFile:
    return compile_source(read_spec(path), path, **kwargs)


def square_model(base: CompiledModel, name: str, span: Span | None = None) -> CompiledModel:
    """The model ``name`` = square(base): the base circuit, renamed, with the plan of its
    normaliser. A base that cannot be squared raises ``CompileError`` located at ``span``
    (the operation in the spec)."""
    regions = base.spec.regions.kind if base.spec.regions is not None else None
    found = square_diagnostics(base.circuit, f"square({base.spec.name})", span, regions)
    if found:
        raise CompileError(list(found))
    circuit = replace(base.circuit, name=name)
    folded = replace(base.folded, circuit=circuit) if base.folded is not None else None
    spec = replace(base.spec, name=name, span=span or base.spec.span)
    algebra = Algebra("square", (base.spec.name,), gram_plan(circuit))
    return CompiledModel(spec, circuit, base.report, folded, algebra)  # type: ignore[arg-type]


def operand_errors(operands: list[CompiledModel], operation: str, span: Span | None, *,
                   models: str, same_data_hint: str, signed_reason: str, signed_hint: str,
                   one_class: str) -> list[Diagnostic]:
    """What keeps ``operands`` from being combined by ``operation`` (a mixture or a
    product), located at ``span``: data other than the first operand's, signed weights, or
    classes. The wording is the operation's own (``models``: "two models", "models")."""
    def data_of(model: CompiledModel) -> tuple:
        circuit = model.circuit
        return circuit.num_variables, circuit.num_values, circuit.image_shape, circuit.domain

    first = operands[0]
    found = []
    for model in operands[1:]:
        if data_of(model) != data_of(first):
            found.append(error("not-compatible", f"{operation} needs {models} over the same data, "
                               f"and '{first.spec.name}' has {first.spec.data.source()} but "
                               f"'{model.spec.name}' {model.spec.data.source()}", span,
                               same_data_hint))
    for model in operands:
        if model.circuit.is_signed:
            found.append(error("not-compatible", f"{operation} needs non-negative weights "
                               f"({signed_reason}), and '{model.spec.name}' has 'none' weights",
                               span, f"give '{model.spec.name}' non-negative weights{signed_hint}"))
        if model.circuit.num_classes != 1:
            found.append(error("not-compatible", f"{one_class}, and '{model.spec.name}' has "
                               f"{model.circuit.num_classes}", span,
                               f"remove 'classes' from '{model.spec.name}'"))
    return found


def mixture_model(components: list[CompiledModel], name: str,
                  span: Span | None = None) -> CompiledModel:
    """The model ``name`` = mixture(a, b, ...), p(x) = sum_i w_i p_i(x): the circuits side by
    side under one mixing sum of their outputs with weights of its own. An ordinary circuit
    (no algebra): it trains, with Adam or EM, and answers every query as any other does.
    Components that cannot be mixed raise ``CompileError`` located at ``span``."""
    first = components[0]
    operation = f"mixture({', '.join(m.spec.name for m in components)})"
    found = operand_errors(
        components, operation, span, models="models", same_data_hint="give every model the same 'data'",
        signed_reason="a mixture of signed circuits is no distribution", signed_hint="",
        one_class=f"{operation} mixes models of one class")
    if found:
        raise CompileError(found)
    circuit = mixture_circuit(tuple(m.circuit for m in components), name)
    # The structure checks work per region of one region graph: the mixture's properties
    # are those of its components, and one split per scope needs them all on one graph.
    report = StructureReport(*(sum((getattr(m.report, part) for m in components), ())
                               for part in ("smooth", "decomposable", "structured_decomposable")))
    if any(m.circuit.region_graph != first.circuit.region_graph for m in components[1:]):
        report = replace(report, structured_decomposable=report.structured_decomposable + (
            Diagnostic(Severity.NOTE, "not-structured", f"{operation} mixes circuits of "
                       "different region graphs, which split the variables in different ways",
                       span, "structured decomposability needs one split per scope"),))
    folded = fold_layers(circuit) if first.folded is not None else None
    spec = replace(first.spec, name=name, span=span or first.spec.span)
    return CompiledModel(spec, circuit, report, folded,  # type: ignore[arg-type]
                         mixture=tuple(m.spec.name for m in components))


def multiply_models(left: CompiledModel, right: CompiledModel, name: str,
                    span: Span | None = None) -> CompiledModel:
    """The model ``name`` = multiply(left, right), p(x) = left(x) right(x) / Z: both circuits
    side by side under a product of their outputs, with the plan of Z. Two models that
    cannot be multiplied raise ``CompileError`` located at ``span``."""
    operation = f"multiply({left.spec.name}, {right.spec.name})"
    found = operand_errors(
        [left, right], operation, span, models="two models", same_data_hint="give both the same 'data'",
        signed_reason="a product of signed circuits can be negative", signed_hint=", or square it",
        one_class=f"{operation} multiplies models of one class")
    if found:
        raise CompileError(found)
    circuit, roots = product_circuit(left.circuit, right.circuit, name)
    found = list(multiply_diagnostics(circuit, operation, span, roots))
    if found:
        raise CompileError(found)
    report = StructureReport(*(getattr(left.report, part) + getattr(right.report, part)
                               for part in ("smooth", "decomposable", "structured_decomposable")))
    folded = fold_layers(circuit) if left.folded is not None else None
    spec = replace(left.spec, name=name, span=span or left.spec.span)
    algebra = Algebra("multiply", (left.spec.name, right.spec.name), gram_plan(circuit, roots))
    return CompiledModel(spec, circuit, report, folded, algebra)  # type: ignore[arg-type]


def emit_python(compiled: CompiledFile, model: CompiledModel) -> str:
    from pcdsl.codegen import generate_module

    text = generate_module(model.folded, model.report, spec_file=compiled.path,
                           spec_sha256=compiled.sha256)
    if model.algebra is None:
        return text
    from pcdsl.codegen.squared import generate_algebra

    return generate_algebra(text, model.algebra, model.folded)


# Guards ---------------------------------------------------------------------------------

def too_deep(source: str, path: str) -> Diagnostic:
    line, column = deepest_point(source)
    return error("too-deep", "the spec is nested too deeply for pcc (expressions or regions "
                 "more than about a thousand levels deep)", Span(path, line, column, line, column + 1),
                 "split long expressions with constants, or declare regions parts first")


def deepest_point(source: str) -> tuple[int, int]:
    """(line, column) of the most deeply parenthesised point of ``source``, or of the start of
    its longest line when it has hardly any parentheses (a long chain of operators)."""
    depth, best, where = 0, 0, (1, 1)
    line, column = 1, 1
    in_comment = in_string = False
    for char in source:
        if char == "\n":
            in_comment = in_string = False
        elif in_comment:
            pass
        elif char == '"':
            in_string = not in_string
        elif in_string:
            pass
        elif char == "#":
            in_comment = True
        elif char == "(":
            depth += 1
            if depth > best:
                best, where = depth, (line, column)
        elif char == ")":
            depth = max(0, depth - 1)
        line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
    if best >= 32:
        return where
    lines = source.split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    return longest + 1, 1
