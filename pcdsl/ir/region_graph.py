"""Region graphs: regions (sets of variables) and the partitions that split them.

A region graph is a bipartite DAG: each region is split by zero or more partitions,
each partition into two or more smaller regions. Leaves are regions without partitions.

A region keeps its scope as runs of variables (``scope.py``) rather than a bit set: a
bit set is as wide as the data whatever the region's size (a pixel of a 3x256x256 image
is 24 KiB), runs cost what the region holds (a rectangle of an image, a few runs per
row), so a whole image graph costs about its depth times its number of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pcdsl.diagnostics import Span
from pcdsl.ir.scope import (
    Runs,
    describe_scope,
    runs_of,
    runs_scope,
    runs_size,
    runs_variables,
    union_runs,
    variables_of,
)


@dataclass(frozen=True)
class Region:
    id: int
    runs: Runs  # the region's variables, see scope.py
    partitions: tuple[int, ...]  # ids of the partitions splitting this region
    name: str | None = None  # the spec's name, for hand-written structure
    span: Span | None = None

    @property
    def variables(self) -> tuple[int, ...]:
        """The region's variables, in increasing order."""
        return runs_variables(self.runs)

    @property
    def size(self) -> int:
        return runs_size(self.runs)

    @cached_property
    def scope(self) -> int:
        """The variables as a bit set, for set algebra on a few regions."""
        return runs_scope(self.runs)

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
        self._runs: list[Runs] = []
        self._names: list[str | None] = []
        self._spans: list[Span | None] = []
        self._partitions: list[tuple[int, tuple[int, ...], Span | None]] = []

    def region(self, scope: int, name: str | None = None, span: Span | None = None) -> int:
        """A region over the variables of a bit set (for a few small regions)."""
        return self.region_of_runs(runs_of(variables_of(scope)), name, span)

    def region_of_runs(self, runs: Runs, name: str | None = None, span: Span | None = None) -> int:
        self._runs.append(runs)
        self._names.append(name)
        self._spans.append(span)
        return len(self._runs) - 1

    def split(self, region: int, inputs: tuple[int, ...] | list[int], span: Span | None = None) -> None:
        self._partitions.append((region, tuple(inputs), span))

    def merge(self, inputs: list[int]) -> int:
        """A new region over the union of ``inputs``, split into exactly them."""
        region = self.region_of_runs(union_runs([self._runs[r] for r in inputs]))
        self.split(region, inputs)
        return region

    def runs(self, region: int) -> Runs:
        return self._runs[region]

    def build(self, root: int) -> RegionGraph:
        splits: list[list[int]] = [[] for _ in self._runs]
        for index, (region, _, _) in enumerate(self._partitions):
            splits[region].append(index)
        children = [[c for p in ps for c in self._partitions[p][1]] for ps in splits]
        # Depth-first post-order from the root: parts before wholes, unreachable regions dropped.
        order: list[int] = []
        seen = [False] * len(self._runs)
        seen[root] = True
        stack = [(root, iter(children[root]))]
        while stack:
            region, pending = stack[-1]
            for child in pending:
                if not seen[child]:
                    seen[child] = True
                    stack.append((child, iter(children[child])))
                    break
            else:
                stack.pop()
                order.append(region)
        new_id = [-1] * len(self._runs)
        for new, old in enumerate(order):
            new_id[old] = new
        partitions: list[Partition] = []
        regions: list[Region] = []
        for new, old in enumerate(order):
            ids = []
            for p in splits[old]:
                _, inputs, span = self._partitions[p]
                ids.append(len(partitions))
                partitions.append(Partition(len(partitions), new, tuple([new_id[i] for i in inputs]), span))
            regions.append(Region(new, self._runs[old], tuple(ids), self._names[old],
                                  self._spans[old]))
        return RegionGraph(self.num_variables, tuple(regions), tuple(partitions), new_id[root])
