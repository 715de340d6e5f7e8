"""Region graphs: regions (sets of variables) and the partitions that split them.

A region graph is a bipartite DAG: each region is split by zero or more partitions,
each partition into two or more smaller regions. Leaves are regions without partitions.

A region keeps its scope as runs of variables (``scope.py``) rather than a bit set: a
bit set is as wide as the data whatever the region's size (a pixel of a 3x256x256 image
is 24 KiB), runs cost what the region holds (a rectangle of an image, a few runs per
row), so a whole image graph costs about its depth times its number of pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar, overload

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
    """The graph column by column (tuples indexed by region or partition id), since image
    graphs have hundreds of thousands of regions; ``regions[i]`` and ``partitions[p]``
    are ``Region`` and ``Partition`` records, made when read."""

    num_variables: int
    runs: tuple[Runs, ...]  # per region: its variables; every region after its parts
    region_partitions: tuple[tuple[int, ...], ...]  # per region: the partitions splitting it
    partition_regions: tuple[int, ...]  # per partition: the region it splits
    partition_inputs: tuple[tuple[int, ...], ...]  # per partition: the regions it splits it into
    root: int
    names: tuple[str | None, ...]  # per region: the spec's name, for hand-written structure
    region_spans: tuple[Span | None, ...]
    partition_spans: tuple[Span | None, ...]
    source_sha256: str | None = None  # for a graph read from a file (a learned tree): its digest

    @property
    def regions(self) -> Records[Region]:
        return Records(len(self.runs), self.region)

    @property
    def partitions(self) -> Records[Partition]:
        return Records(len(self.partition_regions), self.partition)

    def region(self, i: int) -> Region:
        return Region(i, self.runs[i], self.region_partitions[i], self.names[i], self.region_spans[i])

    def partition(self, p: int) -> Partition:
        return Partition(p, self.partition_regions[p], self.partition_inputs[p], self.partition_spans[p])

    @property
    def leaves(self) -> tuple[Region, ...]:
        return tuple(self.region(i) for i, ps in enumerate(self.region_partitions) if not ps)


T = TypeVar("T")


class Records(Sequence[T]):
    """``count`` records, made one at a time by ``make(i)`` when read; ``each``, when
    given, makes them all in order, faster than one by one."""

    def __init__(self, count: int, make: Callable[[int], T],
                 each: Callable[[], Iterator[T]] | None = None) -> None:
        self._count = count
        self._make = make
        self._each = each

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._make(j) for j in range(*i.indices(self._count))]
        if not -self._count <= i < self._count:
            raise IndexError(f"index {i} out of range ({self._count} records)")
        return self._make(i % self._count)

    def __iter__(self) -> Iterator[T]:
        return self._each() if self._each is not None else (self._make(i) for i in range(self._count))


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
        region_partitions: list[tuple[int, ...]] = []
        partition_regions: list[int] = []
        partition_inputs: list[tuple[int, ...]] = []
        partition_spans: list[Span | None] = []
        for new, old in enumerate(order):
            first = len(partition_regions)
            for p in splits[old]:
                _, inputs, span = self._partitions[p]
                partition_regions.append(new)
                partition_inputs.append(tuple([new_id[i] for i in inputs]))
                partition_spans.append(span)
            region_partitions.append(tuple(range(first, len(partition_regions))))
        return RegionGraph(
            self.num_variables, tuple([self._runs[old] for old in order]), tuple(region_partitions),
            tuple(partition_regions), tuple(partition_inputs), new_id[root],
            tuple([self._names[old] for old in order]), tuple([self._spans[old] for old in order]),
            tuple(partition_spans))
