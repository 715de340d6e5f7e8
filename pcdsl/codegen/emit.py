"""Emit the Python source of a folded circuit.

Python decides what to write (names, shapes, gather strategies, constants); the
template in ``templates/`` only lays it out. Nothing from the spec reaches the output
except the model name and the spec's file name, both validated against a strict
pattern, and numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pcdsl import __version__
from pcdsl.ir.circuit import LayerKind
from pcdsl.passes.fold import Fold, FoldedCircuit
from pcdsl.passes.structure import StructureReport

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_LINE_WIDTH = 99


@dataclass(frozen=True)
class _Parameter:
    name: str
    shape: str
    init: str
    comment: str


@dataclass(frozen=True)
class _Buffer:
    name: str
    constant: str
    shape: str


@dataclass(frozen=True)
class _Step:
    comment: str
    code: str
    split: str  # the statement splitting this fold's output into the chunks others read


class _Chunks:
    """How each fold's output is cut into the contiguous chunks its consumers read.

    A consumer reading rows [a, b) of a fold gets a chunk of ``h.split(...)`` (or the
    concatenation of a few): unlike slicing, split's backward is one concatenation
    rather than a zero-filled copy of the whole output per reader.
    """

    def __init__(self, folded: FoldedCircuit) -> None:
        bounds: dict[int, set[int]] = {}
        for fold in folded.folds:
            gather = fold.gather
            if gather is None or gather.slice_start is None:
                continue
            (source,) = gather.sources
            cuts = bounds.setdefault(source, {0, folded.folds[source].size})
            cuts.update(gather.slice_start + a * gather.width for a in range(gather.arity + 1))
        self.bounds = {source: sorted(cuts) for source, cuts in bounds.items()}

    def split_statement(self, source: int) -> str:
        cuts = self.bounds.get(source)
        if cuts is None or len(cuts) == 2:
            return ""
        sizes = _shape(tuple(b - a for a, b in zip(cuts, cuts[1:])))
        return (f"hc{source}, sc{source} = h{source}.split({sizes}), "
                f"s{source}.split({sizes})")

    def rows(self, source: int, start: int, stop: int) -> tuple[str, str]:
        """Expressions for rows [start, stop) of a fold's h and s."""
        cuts = self.bounds[source]
        if len(cuts) == 2:
            return f"h{source}", f"s{source}"
        first, last = cuts.index(start), cuts.index(stop)
        if last == first + 1:
            return f"hc{source}[{first}]", f"sc{source}[{first}]"
        hs = ", ".join(f"hc{source}[{k}]" for k in range(first, last))
        ss = ", ".join(f"sc{source}[{k}]" for k in range(first, last))
        return f"torch.cat(({hs}))", f"torch.cat(({ss}))"


@dataclass(frozen=True)
class _Constant:
    name: str
    text: str


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def _tuple_literal(values: list[int], indent: str = "    ") -> str:
    """A tuple of ints wrapped to the line width."""
    if not values:
        return "()"
    lines: list[str] = []
    line = indent
    for v in values:
        item = f"{v}, "
        if len(line) + len(item) > _LINE_WIDTH and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += item
    lines.append(line.rstrip())
    return "(\n" + "\n".join(lines) + "\n)"


def _init_call(fold: Fold) -> str:
    """The in-place initialiser call that draws a fold's initial free parameters."""
    assert fold.weight is not None
    init = fold.weight.init
    args = dict(init.arguments)
    if init.kind == "normal":
        return f"normal_({args['mean']!r}, {args['std']!r}, generator=generator)"
    raise AssertionError(f"no initialiser {init.kind}")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _describe_fold(fold: Fold) -> str:
    n = fold.size
    if fold.kind is LayerKind.CATEGORICAL:
        return (f"depth {fold.depth}: categorical inputs, {n} variables x {fold.num_units} units "
                f"over {fold.num_values} values")
    if fold.kind is LayerKind.DENSE:
        return (f"depth {fold.depth}: {n} dense sum{'s' if n != 1 else ''}, "
                f"{fold.input_units} -> {fold.num_units} units")
    if fold.kind is LayerKind.HADAMARD:
        return (f"depth {fold.depth}: {n} Hadamard product{'s' if n != 1 else ''} of "
                f"{fold.arity} x {fold.num_units} units")
    plural = "s" if n != 1 else ""
    return f"depth {fold.depth}: {n} mixing sum{plural} of {fold.arity} x {fold.num_units} units"


def generate_module(folded: FoldedCircuit, report: StructureReport, *, spec_file: str,
                    spec_sha256: str) -> str:
    """The source text of the standalone module for ``folded``."""
    circuit = folded.circuit
    if not _IDENTIFIER.match(circuit.name):
        raise ValueError(f"model name {circuit.name!r} is not an identifier")
    if not re.fullmatch(r"[0-9a-f]{64}", spec_sha256):
        raise ValueError("spec hash must be a SHA-256 hex digest")
    file_name = Path(spec_file).name
    spec_file_comment = file_name if _SAFE_FILE_NAME.match(file_name) else "<spec>"

    parameters: list[_Parameter] = []
    buffers: list[_Buffer] = []
    constants: list[_Constant] = []
    steps: list[_Step] = []
    chunks = _Chunks(folded)
    for fold in folded.folds:
        i = fold.id
        parameter = None
        if fold.weight is not None:
            parameter = f"{fold.kind.value}_{i}"
            axis_doc = {LayerKind.CATEGORICAL: "(F, units, values) logits",
                        LayerKind.DENSE: "(F, out, in) logits",
                        LayerKind.MIXING: "(F, units, arity) logits"}[fold.kind]
            parameters.append(_Parameter(parameter, _shape(fold.weight_shape or ()),
                                         _init_call(fold), axis_doc))
        if fold.kind is LayerKind.CATEGORICAL:
            constant = f"_VARIABLES_{i}"
            constants.append(_Constant(constant, _tuple_literal(list(fold.variables))))
            buffers.append(_Buffer(f"variables_{i}", constant, _shape((fold.size,))))
            code = f"h{i}, s{i} = _categorical(x, self.{parameter}, self.variables_{i})"
        else:
            gather = fold.gather
            assert gather is not None
            if gather.slice_start is not None:
                (source,) = gather.sources
                slots = [chunks.rows(source, gather.slice_start + a * gather.width,
                                     gather.slice_start + (a + 1) * gather.width)
                         for a in range(gather.arity)]
                if fold.kind is LayerKind.DENSE:
                    inputs = f"{slots[0][0]}, {slots[0][1]}"
                else:
                    hs = ", ".join(h for h, _ in slots)
                    ss = ", ".join(s for _, s in slots)
                    inputs = f"({hs}), ({ss})"
            else:
                constant = f"_GATHER_{i}"
                flat = [p for row in gather.index for p in row]
                constants.append(_Constant(constant, _tuple_literal(flat)))
                shape = (gather.width,) if gather.arity == 1 else (gather.arity, gather.width)
                buffers.append(_Buffer(f"gather_{i}", constant, _shape(shape)))
                hs = ", ".join(f"h{s}" for s in gather.sources)
                ss = ", ".join(f"s{s}" for s in gather.sources)
                comma = "," if len(gather.sources) == 1 else ""
                inputs = f"*_take(({hs}{comma}), ({ss}{comma}), self.gather_{i})"
            if fold.kind is LayerKind.DENSE:
                code = f"h{i}, s{i} = _dense({inputs}, self.{parameter})"
            elif fold.kind is LayerKind.HADAMARD:
                code = f"h{i}, s{i} = _hadamard({inputs})"
            else:
                code = f"h{i}, s{i} = _mixing({inputs}, self.{parameter})"
        steps.append(_Step(_describe_fold(fold), code, chunks.split_statement(i)))

    o, p = folded.output_fold, folded.output_position
    output = f"torch.log(h{o}[{p}]).squeeze(-1) + s{o}[{p}]" if circuit.num_classes == 1 else \
        f"torch.log(h{o}[{p}]) + s{o}[{p}].unsqueeze(-1)"
    shape = circuit.image_shape
    if shape is not None:
        image_input_shapes = [shape] + ([shape[1:]] if shape[0] == 1 else [])
        input_shapes = f"(B, {circuit.num_variables}) or (B, {', '.join(map(str, shape))})"
        modality = f"images of {shape[0]}x{shape[1]}x{shape[2]} with {circuit.num_values} values"
    else:
        image_input_shapes = []
        input_shapes = f"(B, {circuit.num_variables})"
        modality = f"{circuit.num_variables} variables with {circuit.num_values} values each"
    properties = ", ".join([
        "smooth" if report.is_smooth else "not smooth",
        "decomposable" if report.is_decomposable else "not decomposable",
        "structured-decomposable" if report.is_structured_decomposable
        else "not structured-decomposable",
    ])
    context = {
        "version": __version__,
        "model": circuit.name,
        "spec_file_comment": spec_file_comment,
        "spec_file_literal": repr(spec_file_comment),
        "spec_sha256": spec_sha256,
        "summary": modality,
        "summary_sentence": f"A probabilistic circuit over {modality}.",
        "structure": (f"{len(circuit.layers)} layers in {len(folded.folds)} folds, depth "
                      f"{folded.depth}; {circuit.num_parameters:,} parameters; {properties}"),
        "num_variables": circuit.num_variables,
        "num_values": circuit.num_values,
        "image_shape": repr(shape),
        "image_input_shapes": repr(tuple(image_input_shapes)),
        "input_shapes": input_shapes,
        "output_shape": "(B,)" if circuit.num_classes == 1 else f"(B, {circuit.num_classes})",
        "num_classes": circuit.num_classes,
        "num_parameters": circuit.num_parameters,
        "num_layers": len(circuit.layers),
        "num_folds": len(folded.folds),
        "is_smooth": report.is_smooth,
        "is_decomposable": report.is_decomposable,
        "is_structured_decomposable": report.is_structured_decomposable,
        "seed": circuit.seed,
        "parameters": parameters,
        "buffers": buffers,
        "steps": steps,
        "output": output,
        "constants": constants,
    }
    return _environment().get_template("circuit.py.j2").render(**context)
