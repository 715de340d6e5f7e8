"""Structural properties of a circuit: smoothness, decomposability, structured
decomposability. Each check is a pure function returning its violations as
diagnostics that point at the region or partition of the spec they come from.

* smooth: every sum's inputs have the same scope;
* decomposable: every product's inputs have pairwise disjoint scopes;
* structured-decomposable: decomposable, and all products respect one vtree: products
  over the same scope split it the same way, and all their scopes and parts form a
  laminar family (any two are disjoint or nested).

Lowering builds one product per partition (over its parts) and one sum per region with
several partitions (over theirs); every other sum has one input and every leaf's product
is over distinct variables. So the checks work on the regions and partitions, with the
layers' scopes as runs (``layer_scopes``), not layer by layer with bit sets, which at
3x256x256 would be gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from pcdsl.diagnostics import Diagnostic, Severity
from pcdsl.ir.circuit import Circuit, Origin
from pcdsl.ir.lower import span_of_origin
from pcdsl.ir.region_graph import Partition, RegionGraph
from pcdsl.ir.scope import Runs, describe_scope, runs_scope, runs_size, runs_variables, union_runs


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


@dataclass(frozen=True)
class Scopes:
    """The variables of the layers lowering builds, worked out per region and partition
    rather than per layer: a region's output layer is over ``regions[r]``, the product of
    a partition over ``partitions[p]`` (the union of its parts' scopes, each part's dense
    sum over its part's), and the inputs of a leaf over one variable each. As runs."""

    regions: list[Runs]
    partitions: list[Runs]
    disjoint: list[bool]  # whether a partition's parts are pairwise disjoint


def layer_scopes(graph: RegionGraph) -> Scopes:
    exact = _exact_partitions(graph)
    if exact is not None:  # every partition covers its region: the scopes are the regions'
        return Scopes(list(graph.runs), [graph.runs[r] for r in graph.partition_regions], exact)
    regions: list[Runs] = []
    partitions: list[Runs] = [()] * len(graph.partition_regions)
    disjoint = [True] * len(graph.partition_regions)
    for runs, region_partitions in zip(graph.runs, graph.region_partitions):  # parts before wholes
        if not region_partitions:
            regions.append(runs)
            continue
        for p in region_partitions:
            parts = [regions[r] for r in graph.partition_inputs[p]]
            merged = union_runs(parts)
            # Disjoint parts hold as many variables together as their union.
            disjoint[p] = runs_size(merged) == sum(runs_size(part) for part in parts)
            partitions[p] = runs if merged == runs else merged  # share the common case
        first = partitions[region_partitions[0]]
        if all(partitions[p] == first for p in region_partitions):
            regions.append(first)
        else:
            regions.append(union_runs(partitions[p] for p in region_partitions))
    return Scopes(regions, partitions, disjoint)


def _exact_partitions(graph: RegionGraph) -> list[bool] | None:
    """Whether the union of every partition's parts is its region, worked out for all
    partitions at once with numpy; then, by induction from the leaves, every layer is over
    its region's variables, and each partition's disjointness is returned (parts that cover
    their region are disjoint when their sizes add up to its size). None otherwise."""
    if not graph.partition_regions:
        return []
    runs = graph.runs
    counts = np.array([len(r) // 2 for r in runs], np.int64)
    flat = np.fromiter(chain.from_iterable(runs), np.int64, 2 * int(counts.sum())).reshape(-1, 2)
    first_run = np.cumsum(counts) - counts
    sizes = np.bincount(np.repeat(np.arange(len(runs)), counts), flat[:, 1] - flat[:, 0],
                        minlength=len(runs)).astype(np.int64)
    regions = np.array(graph.partition_regions, np.int64)
    arity = np.array([len(inputs) for inputs in graph.partition_inputs], np.int64)
    parts = np.fromiter(chain.from_iterable(graph.partition_inputs), np.int64, int(arity.sum()))
    part_of = np.repeat(np.arange(len(arity)), arity)
    # Every run of every part, shifted by its partition so that partitions never touch.
    shift = (int(flat.max()) + 1) * np.repeat(part_of, counts[parts])
    which = np.repeat(first_run[parts] - np.cumsum(counts[parts]) + counts[parts], counts[parts])
    which += np.arange(len(which))
    starts, stops = flat[which, 0] + shift, flat[which, 1] + shift
    order = np.argsort(starts, kind="stable")
    starts, reach = starts[order], np.maximum.accumulate(stops[order])
    new_run = np.concatenate([[True], starts[1:] > reach[:-1]])
    last = np.concatenate([np.flatnonzero(new_run)[1:] - 1, [len(starts) - 1]])
    union_shift = shift[order][new_run]
    union = np.stack([starts[new_run], reach[last]], axis=1) - union_shift[:, None]
    # The union of partition p, run by run, against the runs of its region.
    union_counts = np.bincount(shift[order][new_run] // (int(flat.max()) + 1), minlength=len(arity))
    if not np.array_equal(union_counts, counts[regions]):
        return None
    expected = np.repeat(first_run[regions] - np.cumsum(counts[regions]) + counts[regions], counts[regions])
    expected += np.arange(len(expected))
    if not np.array_equal(union, flat[expected]):
        return None
    part_sizes = np.bincount(part_of, sizes[parts], minlength=len(arity))
    return (part_sizes == sizes[regions]).tolist()


def _where(graph: RegionGraph, origin: Origin) -> str:
    region = graph.regions[origin.region]
    if origin.partition is not None:
        return f"a partition of {region.describe()}"
    return region.describe()


def check_smooth(circuit: Circuit, severity: Severity = Severity.ERROR,
                 scopes: Scopes | None = None) -> tuple[Diagnostic, ...]:
    """Every sum over several inputs (one per partition of a region) adds up inputs over
    the same variables; the other sums have a single input."""
    found: list[Diagnostic] = []
    graph = circuit.region_graph
    scopes = scopes or layer_scopes(graph)
    for r, region_partitions in enumerate(graph.region_partitions):
        partition_scopes = [scopes.partitions[p] for p in region_partitions]
        if all(s == partition_scopes[0] for s in partition_scopes):
            continue
        region = graph.regions[r]
        distinct = [runs_scope(s) for s in dict.fromkeys(partition_scopes)]
        covers = [union_runs(graph.runs[part] for part in graph.partition_inputs[p])
                  for p in region.partitions]
        notes = tuple((f"this partition covers {describe_scope(runs_scope(scope))}", graph.partition_spans[p])
                      for p, scope in zip(region.partitions, covers))
        origin = Origin(region.id)
        found.append(Diagnostic(
            severity, "not-smooth",
            f"{_where(graph, origin)} is not smooth: its sum adds up inputs over different "
            f"variables ({' vs '.join(describe_scope(s) for s in distinct)})",
            span_of_origin(circuit, origin),
            "every partition of a region must cover exactly the same variables",
            notes,
        ))
    return tuple(found)


def _shared(scopes: Scopes, partition: Partition) -> int:
    """The variables in more than one part of a partition, as a bit set."""
    union_so_far = 0
    shared = 0
    for r in partition.inputs:
        scope = runs_scope(scopes.regions[r])
        shared |= union_so_far & scope
        union_so_far |= scope
    return shared


def check_decomposable(circuit: Circuit, severity: Severity = Severity.ERROR,
                       scopes: Scopes | None = None) -> tuple[Diagnostic, ...]:
    """Every product's inputs are over disjoint variables: the parts of each partition
    (the product of a leaf's inputs is over distinct variables by construction)."""
    found: list[Diagnostic] = []
    graph = circuit.region_graph
    scopes = scopes or layer_scopes(graph)
    for p, disjoint in enumerate(scopes.disjoint):
        if disjoint:
            continue
        partition = graph.partitions[p]
        shared = _shared(scopes, partition)
        origin = Origin(partition.region, partition.id)
        found.append(Diagnostic(
            severity, "not-decomposable",
            f"{_where(graph, origin)} is not decomposable: {describe_scope(shared)} "
            f"appear{'s' if shared & (shared - 1) == 0 else ''} in more than one of its parts",
            span_of_origin(circuit, origin),
            "the parts of a partition must be over disjoint variables",
        ))
    return tuple(found)


def check_structured_decomposable(circuit: Circuit, severity: Severity = Severity.NOTE,
                                  scopes: Scopes | None = None) -> tuple[Diagnostic, ...]:
    """Products must agree on one vtree; reported as notes, since it is optional. The
    products, in layer order: a leaf's over its variables, then one per partition."""
    found: list[Diagnostic] = []
    graph = circuit.region_graph
    scopes = scopes or layer_scopes(graph)
    split_of: dict[Runs, tuple[frozenset[Runs], int]] = {}
    family: set[Runs] = set()

    def products():  # (scope, parts, origin) of every decomposable product
        for r, (runs, region_partitions) in enumerate(zip(graph.runs, graph.region_partitions)):
            if not region_partitions:
                if runs_size(runs) > 1:
                    yield runs, frozenset((v, v + 1) for v in runs_variables(runs)), Origin(r)
                continue
            for p in region_partitions:
                inputs = graph.partition_inputs[p]
                parts = frozenset(scopes.regions[i] for i in inputs)
                if len(parts) == 1 and len(inputs) > 1:
                    continue  # not decomposable: reported by check_decomposable
                yield scopes.partitions[p], parts, Origin(r, p)

    smooth = True  # every partition over its region's scope
    for scope, parts, origin in products():
        smooth = smooth and (origin.partition is None or scope == graph.runs[origin.region])
        first = split_of.setdefault(scope, (parts, origin.region))
        if first[0] != parts:
            this, other = graph.regions[origin.region], graph.regions[first[1]]
            what = (f"{this.describe()} is split in two different ways" if this.id == other.id
                    else f"{this.describe()} and {other.describe()} split "
                         f"{describe_scope(runs_scope(scope))} in different ways")
            found.append(Diagnostic(
                severity, "not-structured", what, span_of_origin(circuit, origin),
                "structured decomposability needs one split per scope",
            ))
            return tuple(found)
        family.add(scope)
        family.update(parts)
    if smooth:
        # One split per scope is then enough. Every region is reached from the root through
        # partitions over its scope, each now the one split of that scope, whose parts are
        # disjoint (the circuit is decomposable: this check runs only then) and smaller.
        # Two scopes met on the way both lie within one part of every scope above them,
        # down to a scope that is one of them; so any two scopes are nested or disjoint,
        # and the splits are the nodes of one vtree. (The pass below would find no overlap;
        # it took 1.4 s of a 3x128x128 quad-tree.)
        return tuple(found)
    # Laminar family: in increasing size, every earlier scope a new one overlaps must lie
    # inside it. Tracking only the latest (largest) earlier owner of each variable is
    # enough, since owners are nested; this is linear in the total size of the scopes.
    # Scopes of one size are taken in the order of their bit sets (the order of their
    # variables from the largest down), so the first overlap reported does not depend
    # on how scopes are stored.
    variables = {scope: runs_variables(scope) for scope in family}
    owner: dict[int, Runs] = {}
    for scope in sorted(family, key=lambda s: (len(variables[s]), variables[s][::-1])):
        inside: set[int] = set()  # ids of earlier scopes found to lie inside this one
        members: set[int] | None = None
        for variable in variables[scope]:
            earlier = owner.get(variable)
            if earlier is not None and id(earlier) not in inside:
                members = set(variables[scope]) if members is None else members
                if not members.issuperset(variables[earlier]):
                    found.append(Diagnostic(
                        severity, "not-structured",
                        f"scopes {describe_scope(runs_scope(earlier))} and "
                        f"{describe_scope(runs_scope(scope))} overlap without one containing "
                        "the other, so no single vtree fits every product",
                        None,
                    ))
                    return tuple(found)
                inside.add(id(earlier))
            owner[variable] = scope
    return tuple(found)


def analyze_structure(circuit: Circuit) -> StructureReport:
    """All three checks, sharing one computation of the scopes (each check takes
    ``scopes`` for that, and works them out itself without)."""
    scopes = layer_scopes(circuit.region_graph)
    decomposable = check_decomposable(circuit, scopes=scopes)
    structured = check_structured_decomposable(circuit, scopes=scopes) if not decomposable else ()
    return StructureReport(check_smooth(circuit, scopes=scopes), decomposable, structured)
