"""Structural properties of a circuit: smoothness, decomposability, structured
decomposability. Each check is a pure function returning its violations as
diagnostics that point at the region or partition of the spec they come from.

* smooth: every sum's inputs have the same scope;
* decomposable: every product's inputs have pairwise disjoint scopes;
* structured-decomposable: decomposable, and all products respect one vtree: products
  over the same scope split it the same way, and all their scopes and parts form a
  laminar family (any two are disjoint or nested).
"""

from __future__ import annotations

from dataclasses import dataclass

from pcdsl.diagnostics import Diagnostic, Severity
from pcdsl.ir.circuit import Circuit, Layer
from pcdsl.ir.lower import span_of_origin
from pcdsl.ir.scope import describe_scope, variables_of


@dataclass(frozen=True)
class StructureReport:
    smooth: tuple[Diagnostic, ...]
    decomposable: tuple[Diagnostic, ...]
    structured_decomposable: tuple[Diagnostic, ...]

    @property
    def is_smooth(self) -> bool:
        return not self.smooth

    @property
    def is_decomposable(self) -> bool:
        return not self.decomposable

    @property
    def is_structured_decomposable(self) -> bool:
        return self.is_decomposable and not self.structured_decomposable

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """What makes the circuit invalid as a tractable model (smoothness, decomposability)."""
        return self.smooth + self.decomposable


def _where(circuit: Circuit, layer: Layer) -> str:
    graph = circuit.region_graph
    region = graph.regions[layer.origin.region]
    if layer.origin.partition is not None:
        return f"a partition of {region.describe()}"
    return region.describe()


def check_smooth(circuit: Circuit, severity: Severity = Severity.ERROR) -> tuple[Diagnostic, ...]:
    found: list[Diagnostic] = []
    seen: set[tuple[int, int | None]] = set()
    for layer in circuit.layers:
        if not layer.kind.is_sum:
            continue
        scopes = [circuit.layers[i].scope for i in layer.inputs]
        if all(s == scopes[0] for s in scopes):
            continue
        key = (layer.origin.region, layer.origin.partition)
        if key in seen:
            continue
        seen.add(key)
        graph = circuit.region_graph
        region = graph.regions[layer.origin.region]
        notes = []
        for p in region.partitions:
            part = graph.partitions[p]
            scope = 0
            for r in part.inputs:
                scope |= graph.regions[r].scope
            notes.append((f"this partition covers {describe_scope(scope)}", part.span))
        found.append(Diagnostic(
            severity, "not-smooth",
            f"{_where(circuit, layer)} is not smooth: its sum adds up inputs over different "
            f"variables ({' vs '.join(describe_scope(s) for s in dict.fromkeys(scopes))})",
            span_of_origin(circuit, layer.origin),
            "every partition of a region must cover exactly the same variables",
            tuple(notes),
        ))
    return tuple(found)


def check_decomposable(circuit: Circuit,
                       severity: Severity = Severity.ERROR) -> tuple[Diagnostic, ...]:
    found: list[Diagnostic] = []
    for layer in circuit.layers:
        if not layer.kind.is_product:
            continue
        union = 0
        shared = 0
        for i in layer.inputs:
            scope = circuit.layers[i].scope
            shared |= union & scope
            union |= scope
        if shared:
            found.append(Diagnostic(
                severity, "not-decomposable",
                f"{_where(circuit, layer)} is not decomposable: {describe_scope(shared)} "
                f"appear{'s' if shared & (shared - 1) == 0 else ''} in more than one of its parts",
                span_of_origin(circuit, layer.origin),
                "the parts of a partition must be over disjoint variables",
            ))
    return tuple(found)


def check_structured_decomposable(circuit: Circuit,
                                  severity: Severity = Severity.NOTE) -> tuple[Diagnostic, ...]:
    """Products must agree on one vtree; reported as notes, since it is optional."""
    found: list[Diagnostic] = []
    split_of: dict[int, tuple[frozenset[int], Layer]] = {}
    family: set[int] = set()
    for layer in circuit.layers:
        if not layer.kind.is_product:
            continue
        parts = frozenset(circuit.layers[i].scope for i in layer.inputs)
        if len(parts) == 1 and len(layer.inputs) > 1:
            continue  # not decomposable: reported by check_decomposable
        first = split_of.setdefault(layer.scope, (parts, layer))
        if first[0] != parts:
            this = circuit.region_graph.regions[layer.origin.region]
            other = circuit.region_graph.regions[first[1].origin.region]
            what = (f"{this.describe()} is split in two different ways" if this.id == other.id
                    else f"{this.describe()} and {other.describe()} split "
                         f"{describe_scope(layer.scope)} in different ways")
            found.append(Diagnostic(
                severity, "not-structured", what,
                span_of_origin(circuit, layer.origin),
                "structured decomposability needs one split per scope",
            ))
            return tuple(found)
        family.add(layer.scope)
        family.update(parts)
    # Laminar family: in increasing size, every earlier scope a new one overlaps must lie
    # inside it. Tracking only the latest (largest) earlier owner of each variable is
    # enough, since owners are nested; this is linear in the total size of the scopes.
    owner: dict[int, int] = {}
    for scope in sorted(family, key=lambda s: (s.bit_count(), s)):
        for variable in variables_of(scope):
            earlier = owner.get(variable)
            if earlier is not None and earlier & ~scope:
                found.append(Diagnostic(
                    severity, "not-structured",
                    f"scopes {describe_scope(earlier)} and {describe_scope(scope)} overlap "
                    "without one containing the other, so no single vtree fits every product",
                    None,
                ))
                return tuple(found)
            owner[variable] = scope
    return tuple(found)


def analyze_structure(circuit: Circuit) -> StructureReport:
    decomposable = check_decomposable(circuit)
    structured = (check_structured_decomposable(circuit) if not decomposable else ())
    return StructureReport(check_smooth(circuit), decomposable, structured)
