"""The checked form of a model: every name resolved, every default filled in, every
value of the type its option demands, with the span it came from kept alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

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
            text = value.source() if isinstance(value, KindValue) else _literal(value)
            parts.append(f"{key} = {text}")
        return f"{self.kind}({', '.join(parts)})"


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
class ModelSpec:
    """A model ready for lowering."""

    name: str
    span: Span
    data: KindValue
    regions: KindValue | None  # None when the model has a hand-written structure
    structure: StructureSpec | None
    inputs: KindValue
    layers: KindValue
    weights: KindValue
    seed: int
    classes: int = 1
    mixing: str = "per_unit"  # or "dense"

    @property
    def num_variables(self) -> int:
        if self.data.kind == "image":
            return int(self.data["channels"]) * int(self.data["height"]) * int(self.data["width"])
        return int(self.data["count"])

    @property
    def num_values(self) -> int:
        return int(self.data["values"])

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        if self.data.kind != "image":
            return None
        return (int(self.data["channels"]), int(self.data["height"]), int(self.data["width"]))
