"""Region graphs: regions (sets of variables) and the partitions that split them.

A region graph is a bipartite DAG: each region is split by zero or more partitions,
each partition into two or more smaller regions. Leaves are regions without partitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcdsl.diagnostics import Span
from pcdsl.ir.scope import describe_scope


@dataclass(frozen=True)
class Region:
    id: int
    scope: int  # bit set of variables
    partitions: tuple[int, ...]  # ids of the partitions splitting this region
    name: str | None = None  # the spec's name, for hand-written structure
    span: Span | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.partitions

    def describe(self) -> str:
        return f"region '{self.name}'" if self.name else f"region over {describe_scope(self.scope)}"


@dataclass(frozen=True)
class Partition:
    id: int
    region: int  # the region this partition splits
    inputs: tuple[int, ...]  # the regions it splits it into
    span: Span | None = None


@dataclass(frozen=True)
class RegionGraph:
    num_variables: int
    regions: tuple[Region, ...]  # indexed by id; every region after the regions it is split into
    partitions: tuple[Partition, ...]  # indexed by id
    root: int
    source_sha256: str | None = None  # for a graph read from a file (a learned tree): its digest

    @property
    def leaves(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.is_leaf)


class RegionGraphBuilder:
    """Mutable helper to assemble a region graph, then freeze it in topological order."""

    def __init__(self, num_variables: int) -> None:
        self.num_variables = num_variables
        self._scopes: list[int] = []
        self._names: list[str | None] = []
        self._spans: list[Span | None] = []
        self._partitions: list[tuple[int, tuple[int, ...], Span | None]] = []

    def region(self, scope: int, name: str | None = None, span: Span | None = None) -> int:
        self._scopes.append(scope)
        self._names.append(name)
        self._spans.append(span)
        return len(self._scopes) - 1

    def split(self, region: int, inputs: tuple[int, ...] | list[int], span: Span | None = None) -> None:
        self._partitions.append((region, tuple(inputs), span))

    def merge(self, inputs: list[int]) -> int:
        """A new region over the union of ``inputs``, split into exactly them."""
        scope = 0
        for r in inputs:
            scope |= self._scopes[r]
        region = self.region(scope)
        self.split(region, inputs)
        return region

    def scope(self, region: int) -> int:
        return self._scopes[region]

    def build(self, root: int) -> RegionGraph:
        splits: dict[int, list[int]] = {r: [] for r in range(len(self._scopes))}
        for index, (region, _, _) in enumerate(self._partitions):
            splits[region].append(index)
        # Depth-first post-order from the root: parts before wholes, unreachable regions dropped.
        order: list[int] = []
        seen: set[int] = set()
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            region, expanded = stack.pop()
            if expanded:
                order.append(region)
                continue
            if region in seen:
                continue
            seen.add(region)
            stack.append((region, True))
            for p in reversed(splits[region]):
                for child in reversed(self._partitions[p][1]):
                    if child not in seen:
                        stack.append((child, False))
        new_id = {old: new for new, old in enumerate(order)}
        partitions: list[Partition] = []
        regions: list[Region] = []
        for old in order:
            ids = []
            for p in splits[old]:
                _, inputs, span = self._partitions[p]
                ids.append(len(partitions))
                partitions.append(Partition(len(partitions), new_id[old],
                                            tuple(new_id[i] for i in inputs), span))
            regions.append(Region(new_id[old], self._scopes[old], tuple(ids),
                                  self._names[old], self._spans[old]))
        return RegionGraph(self.num_variables, tuple(regions), tuple(partitions), new_id[root])
