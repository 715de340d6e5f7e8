"""The checked form of a model: every name resolved, every default filled in, every
value of the type its option demands, with the span it came from kept alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pcdsl.diagnostics import Span


@dataclass(frozen=True)
class KindValue:
    """A resolved kind with all its options, e.g. ``cp(units = 64)``."""

    kind: str
    options: tuple[tuple[str, object], ...]  # in schema order; values are int/float/str/KindValue
    span: Span | None  # None when the value is a default not written in the spec
    option_spans: tuple[tuple[str, Span], ...] = ()

    def __getitem__(self, name: str) -> object:
        for key, value in self.options:
            if key == name:
                return value
        raise KeyError(name)

    def given(self, name: str) -> bool:
        """Whether option ``name`` was written in the spec (rather than defaulted)."""
        return any(key == name for key, _ in self.option_spans)

    def with_option(self, name: str, value: object) -> KindValue:
        """This value with option ``name`` set to ``value`` (its span unchanged)."""
        return replace(self, options=tuple((k, value if k == name else v) for k, v in self.options))

    def span_of(self, name: str) -> Span | None:
        for key, span in self.option_spans:
            if key == name:
                return span
        return self.span

    def source(self) -> str:
        """The canonical source text of this value (all options written out)."""
        parts = []
        for key, value in self.options:
            if value is None:  # an option left at its computed default
                continue
            if isinstance(value, KindValue):
                text = value.source()
            elif isinstance(value, str) and _is_name_option(self.kind, key):
                text = value  # a bare name, e.g. domain = real
            else:
                text = _literal(value)
            parts.append(f"{key} = {text}")
        return f"{self.kind}({', '.join(parts)})"


def _is_name_option(kind: str, option: str) -> bool:
    from pcdsl.syntax.schema import kind_named

    schema = kind_named(kind)
    found = schema.option(option) if schema is not None else None
    return found is not None and found.type == "name"


def _literal(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


@dataclass(frozen=True)
class OperandSpec:
    """One part of a partition: a region by name, or a single variable by index."""

    region: str | None
    variable: int | None
    span: Span


@dataclass(frozen=True)
class PartitionSpec:
    operands: tuple[OperandSpec, ...]
    span: Span


@dataclass(frozen=True)
class RegionSpec:
    name: str
    partitions: tuple[PartitionSpec, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class StructureSpec:
    regions: tuple[RegionSpec, ...]  # in dependency order: every region after its parts
    root: str
    span: Span


@dataclass(frozen=True)
class AlgebraSpec:
    """A checked ``model NAME = operation(operand, ...)``: the operands are names of models
    of the same file (declared with a body)."""

    name: str
    operation: str  # one of OPERATIONS
    operands: tuple[str, ...]
    span: Span  # the whole declaration
    operation_span: Span  # the call, where a failed precondition is reported


# The operations of the circuit algebra, with the number of models each takes (None: two
# or more).
OPERATIONS: dict[str, int | None] = {"square": 1, "multiply": 2, "mixture": None}


@dataclass(frozen=True)
class ModelSpec:
    """A model ready for lowering."""

    name: str
    span: Span
    data: KindValue
    regions: KindValue | None  # None when the model has a hand-written structure
    structure: StructureSpec | None
    inputs: KindValue  # its parameterisation options filled in (see the schema)
    layers: KindValue
    weights: KindValue
    seed: int
    classes: int = 1
    mixing: str = "per_unit"  # or "dense"
    dense_weights: KindValue | None = None  # None: as ``weights``
    mixing_weights: KindValue | None = None  # None: as ``weights``

    def sum_weights(self, kind: str) -> KindValue:
        """The parameterisation of the weights of ``"dense"`` sums or of ``"mixing"`` sums
        (over several partitions, per unit or dense): the override, or ``weights``."""
        override = {"dense": self.dense_weights, "mixing": self.mixing_weights}[kind]
        return override if override is not None else self.weights

    @property
    def domain(self) -> str:
        """``"discrete"`` (integer values 0 .. values-1) or ``"real"`` (floats)."""
        return str(self.data["domain"]) if self.data.kind == "image" else "discrete"

    @property
    def num_variables(self) -> int:
        if self.data.kind == "image":
            return int(self.data["channels"]) * int(self.data["height"]) * int(self.data["width"])
        return int(self.data["count"])

    @property
    def num_values(self) -> int | None:
        """Values per discrete variable; None for real-valued data."""
        if self.domain == "real":
            return None
        return int(self.data["values"])  # type: ignore[arg-type]

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        if self.data.kind != "image":
            return None
        return (int(self.data["channels"]), int(self.data["height"]), int(self.data["width"]))
