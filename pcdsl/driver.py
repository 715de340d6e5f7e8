"""The thin driver: run the stages in order on one file, collecting diagnostics.

Frontend (parse, check) -> size guard -> lower -> structure passes and lint -> fold ->
codegen. Each stage is a pure function; the driver only threads results, stops at the
first stage that reports errors, and keeps a few guards that make every outcome a
module or a diagnostic: specs too large to build, non-finite numbers, and specs nested
deeper than Python's recursion limit.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pcdsl.diagnostics import CompileError, Diagnostic, Span, error
from pcdsl.files import write_text_atomically
from pcdsl.ir.circuit import Circuit
from pcdsl.ir.lower import lower_model
from pcdsl.ir.region_graphs.poon_domingos import image_delta
from pcdsl.passes.fold import FoldedCircuit, fold_layers
from pcdsl.passes.lint import lint_model
from pcdsl.passes.structure import StructureReport, analyze_structure
from pcdsl.syntax.check import check_file
from pcdsl.syntax.parser import parse_source
from pcdsl.syntax.typed import KindValue, ModelSpec

# What one model may ask the compiler to build. Lowering and the passes are linear or
# close to it in layers, but scopes are bit sets as wide as the data, so both a layer
# count and a variable count bound the time and memory of a compile (about a minute and
# a few GB at the limits); beyond them a spec gets a diagnostic instead of a hang.
MAX_VARIABLES = 1 << 16  # a 256 x 256 image, one channel
MAX_LAYERS = 1_000_000  # estimated from the settings, before anything is built


@dataclass(frozen=True)
class CompiledModel:
    spec: ModelSpec
    circuit: Circuit
    report: StructureReport
    folded: FoldedCircuit


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


def read_spec(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CompileError([error("io", f"cannot read {path}: {reason}", None)]) from None


def compile_source(source: str, path: str, *, fold: bool = True,
                   require_valid: bool = True) -> CompiledFile:
    """Run every stage on ``source``. With ``require_valid``, structure violations
    (non-smooth, non-decomposable) raise ``CompileError``; otherwise they are reported
    in each model's ``report``."""
    try:
        ast_file = parse_source(source, path)
        specs, found = check_file(ast_file)
    except RecursionError:
        # The parser's tree transformer and the checker recurse on nesting; a spec deeper
        # than Python's stack gets a diagnostic rather than an internal error.
        raise CompileError([too_deep(source, path)]) from None
    warnings = list(found)
    models = []
    errors: list[Diagnostic] = []
    for spec in specs:
        guarded = size_errors(spec) + non_finite_errors(spec)
        if guarded:
            errors.extend(guarded)
            continue
        try:
            circuit = lower_model(spec)
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
    if errors:
        raise CompileError(errors + warnings)
    # surrogatepass: text from an editor (the language server) may hold a lone surrogate,
    # which has no UTF-8 form; it still gets a digest rather than an exception.
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return CompiledFile(path, source, digest, tuple(models), tuple(warnings))


def compile_file(path: str, **kwargs) -> CompiledFile:
    return compile_source(read_spec(path), path, **kwargs)


def emit_python(compiled: CompiledFile, model: CompiledModel) -> str:
    from pcdsl.codegen import generate_module

    return generate_module(model.folded, model.report, spec_file=compiled.path,
                           spec_sha256=compiled.sha256)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename,
    so readers never see a half-written file."""
    write_text_atomically(path, text)


# Guards ---------------------------------------------------------------------------------

def size_errors(spec: ModelSpec) -> list[Diagnostic]:
    """A ``too-large`` error when the model would exceed ``MAX_VARIABLES`` or (by the
    estimate of ``estimated_layers``) ``MAX_LAYERS``; checked before anything is built."""
    variables = spec.num_variables
    if variables > MAX_VARIABLES:
        return [error(
            "too-large", f"model '{spec.name}' has {variables:,} variables; pcc builds "
            f"models over at most {MAX_VARIABLES:,}", spec.data.span or spec.span,
            "use a smaller image or fewer variables")]
    layers = estimated_layers(spec)
    if layers > MAX_LAYERS:
        where = spec.regions.span if spec.regions is not None and spec.regions.span else spec.span
        return [error(
            "too-large", f"model '{spec.name}' would have about {layers:,} layers; pcc "
            f"builds models of at most {MAX_LAYERS:,}", where,
            "use fewer repetitions, a larger 'delta', or a smaller image")]
    return []


def estimated_layers(spec: ModelSpec) -> int:
    """About how many layers lowering builds, from the settings alone (an upper estimate:
    options that prune a graph, such as ``max_depth``, are ignored). A hand-written
    structure is bounded by its own text, so it counts 0."""
    regions, shape = spec.regions, spec.image_shape
    if spec.structure is not None or regions is None or shape is None:
        return 0
    variables = spec.num_variables
    pixels = shape[1] * shape[2]
    # Per partition: a dense sum per part and a product (cp); per region: one mixing sum.
    if regions.kind in ("quad_graph", "quad_tree"):
        return variables + 8 * pixels
    if regions.kind in ("random_binary_tree", "linear_tree"):
        return 4 * variables * _int_option(regions, "repetitions", 1)
    if regions.kind == "poon_domingos":
        delta = _int_option(regions, "delta", 0) or image_delta(shape)
        rows, columns = ((side - 1) // delta + 1 for side in shape[1:])
        rectangles = _intervals(rows) * _intervals(columns)
        partitions = _cuts(rows) * _intervals(columns) + _cuts(columns) * _intervals(rows)
        return variables + rectangles + 3 * partitions
    return variables


def _intervals(segments: int) -> int:
    """Intervals of consecutive segments out of ``segments``: the rectangles along an axis."""
    return segments * (segments + 1) // 2


def _cuts(segments: int) -> int:
    """Cut points inside all the intervals along an axis: sum of (length - 1) per interval."""
    return (segments + 1) * segments * (segments - 1) // 6


def _int_option(value: KindValue, name: str, default: int) -> int:
    try:
        option = value[name]
    except KeyError:
        return default
    return option if isinstance(option, int) else default


def non_finite_errors(spec: ModelSpec) -> list[Diagnostic]:
    """A ``range`` error for every float option that is infinite or NaN (``1e999``,
    ``1e999 - 1e999``): such a value has no literal, so it could not reach the generated
    module as a number."""
    found = []
    for owner, name, value in _options(spec):
        if isinstance(value, float) and not math.isfinite(value):
            found.append(error(
                "range", f"'{name}' of '{owner.kind}' must be a finite number, found {value!r}",
                owner.span_of(name) or spec.span, "write a number of ordinary size"))
    return found


def _options(spec: ModelSpec) -> Iterator[tuple[KindValue, str, object]]:
    pending = [v for v in (spec.data, spec.regions, spec.inputs, spec.layers, spec.weights)
               if v is not None]
    while pending:
        value = pending.pop()
        for name, option in value.options:
            if isinstance(option, KindValue):
                pending.append(option)
            else:
                yield value, name, option


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
