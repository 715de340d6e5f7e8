"""Region graphs: regions (sets of variables) and the partitions that split them.

A region graph is a bipartite DAG: each region is split by zero or more partitions,
each partition into two or more smaller regions. Leaves are regions without partitions.

A region keeps its variables as a sorted tuple rather than a bit set: a bit set costs
as many bits as the data has variables whatever the region's size (a pixel of a
3x256x256 image is 24 KiB), a tuple costs its own size, so a whole image graph costs
about its depth times the number of variables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from pcdsl.diagnostics import Span
from pcdsl.ir.scope import describe_scope, scope_of


@dataclass(frozen=True)
class Region:
    id: int
    variables: tuple[int, ...]  # sorted, distinct
    partitions: tuple[int, ...]  # ids of the partitions splitting this region
    name: str | None = None  # the spec's name, for hand-written structure
    span: Span | None = None

    @cached_property
    def scope(self) -> int:
        """The variables as a bit set, for set algebra on a few regions."""
        return scope_of(self.variables)

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


def union(parts: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    """The sorted variables of the union of ``parts``."""
    first, *rest = parts
    return tuple(sorted(set(first).union(*rest)))


class RegionGraphBuilder:
    """Mutable helper to assemble a region graph, then freeze it in topological order."""

    def __init__(self, num_variables: int) -> None:
        self.num_variables = num_variables
        self._variables: list[tuple[int, ...]] = []
        self._names: list[str | None] = []
        self._spans: list[Span | None] = []
        self._partitions: list[tuple[int, tuple[int, ...], Span | None]] = []

    def region(self, variables: Iterable[int], name: str | None = None,
               span: Span | None = None) -> int:
        variables = variables if isinstance(variables, range) else set(variables)
        self._variables.append(tuple(sorted(variables)))
        self._names.append(name)
        self._spans.append(span)
        return len(self._variables) - 1

    def split(self, region: int, inputs: tuple[int, ...] | list[int], span: Span | None = None) -> None:
        self._partitions.append((region, tuple(inputs), span))

    def merge(self, inputs: list[int]) -> int:
        """A new region over the union of ``inputs``, split into exactly them."""
        region = self._add(union([self._variables[r] for r in inputs]))
        self.split(region, inputs)
        return region

    def _add(self, variables: tuple[int, ...]) -> int:
        """A region over ``variables``, already sorted and distinct."""
        self._variables.append(variables)
        self._names.append(None)
        self._spans.append(None)
        return len(self._variables) - 1

    def variables(self, region: int) -> tuple[int, ...]:
        return self._variables[region]

    def build(self, root: int) -> RegionGraph:
        splits: list[list[int]] = [[] for _ in self._variables]
        for index, (region, _, _) in enumerate(self._partitions):
            splits[region].append(index)
        children = [[c for p in ps for c in self._partitions[p][1]] for ps in splits]
        # Depth-first post-order from the root: parts before wholes, unreachable regions dropped.
        order: list[int] = []
        seen = [False] * len(self._variables)
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
        new_id = [-1] * len(self._variables)
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
            regions.append(Region(new, self._variables[old], tuple(ids), self._names[old],
                                  self._spans[old]))
        return RegionGraph(self.num_variables, tuple(regions), tuple(partitions), new_id[root])
