"""Region-graph parity with libcirkit 0.3.1: random binary trees, linear trees, Poon-Domingos.

Each construction is compared with cirkit's as a structure: the multiset of region scopes,
each scope's partitions, and a canonical signature of every region (its scope and, for each
partition, the signatures of its inputs), which tells isomorphic graphs apart from ones
that only share scopes. Runs where libcirkit is installed, skipped otherwise.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from pcdsl.ir.region_graph import RegionGraph
from pcdsl.ir.region_graphs.linear_tree import linear_tree
from pcdsl.ir.region_graphs.poon_domingos import image_delta, poon_domingos
from pcdsl.ir.region_graphs.random_binary_tree import max_depth, random_binary_tree
from pcdsl.ir.scope import scope_of

algorithms = pytest.importorskip("cirkit.templates.region_graph.algorithms")
from cirkit.templates.region_graph.graph import RegionNode  # noqa: E402


class Interner:
    """Canonical ids for region/partition signatures, shared by the two graphs compared."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}

    def __call__(self, key: tuple) -> int:
        return self.ids.setdefault(key, len(self.ids))


def ours_summary(graph: RegionGraph, intern: Interner):
    """(scope multiset, scope -> partitions, region signature multiset) of our graph."""
    signature: dict[int, int] = {}
    partitions: dict[int, set[frozenset[int]]] = {}
    for region in graph.regions:  # parts before wholes
        parts = []
        for p in region.partitions:
            inputs = graph.partitions[p].inputs
            partitions.setdefault(region.scope, set()).add(
                frozenset(graph.regions[i].scope for i in inputs))
            parts.append(intern(("partition", *sorted(signature[i] for i in inputs))))
        signature[region.id] = intern(("region", region.scope, *sorted(parts)))
    scopes = Counter(region.scope for region in graph.regions)
    return scopes, partitions, Counter(signature.values())


def cirkit_summary(rg, intern: Interner):
    signature: dict[object, int] = {}
    partitions: dict[int, set[frozenset[int]]] = {}
    scopes: Counter[int] = Counter()
    for node in rg.topological_ordering():  # inputs before outputs
        if not isinstance(node, RegionNode):
            continue
        scope = scope_of(node.scope)
        scopes[scope] += 1
        parts = []
        for ptn in rg.region_inputs(node):
            inputs = rg.partition_inputs(ptn)
            partitions.setdefault(scope, set()).add(frozenset(scope_of(r.scope) for r in inputs))
            parts.append(intern(("partition", *sorted(signature[r] for r in inputs))))
        signature[node] = intern(("region", scope, *sorted(parts)))
    return scopes, partitions, Counter(signature.values())


def assert_same_structure(ours: RegionGraph, theirs) -> None:
    intern = Interner()
    our_scopes, our_partitions, our_signatures = ours_summary(ours, intern)
    their_scopes, their_partitions, their_signatures = cirkit_summary(theirs, intern)
    assert our_scopes == their_scopes
    assert our_partitions == their_partitions
    assert our_signatures == their_signatures
    assert len(ours.partitions) == len(list(theirs.partition_nodes))
    (root,) = theirs.outputs
    assert ours.regions[ours.root].scope == scope_of(root.scope)


def assert_well_formed(graph: RegionGraph) -> None:
    """Smooth and decomposable at the region level; the root covers every variable."""
    assert graph.regions[graph.root].scope == (1 << graph.num_variables) - 1
    for partition in graph.partitions:
        union = 0
        for i in partition.inputs:
            scope = graph.regions[i].scope
            assert scope and union & scope == 0  # disjoint inputs
            union |= scope
        assert len(partition.inputs) >= 2
        assert union == graph.regions[partition.region].scope  # smooth: inputs cover the region
    for region in graph.regions:  # parts before wholes
        for p in region.partitions:
            assert all(i < region.id for i in graph.partitions[p].inputs)


# ----------------------------------------------------------------------------- random binary tree

RANDOM_CASES = [
    # (num_variables, depth, repetitions, seed)
    (1, None, 1, 42),
    (5, None, 1, 42),
    (28 * 28, None, 1, 42),  # image_data's MNIST default
    (3 * 7 * 5, None, 1, 42),
    (3 * 7 * 5, None, 3, 7),
    (100, 3, 2, 0),
    (17, 0, 1, 42),
    (300, None, 4, 12345),
    (64, 6, 1, 1),
]


@pytest.mark.parametrize("num_variables, depth, repetitions, seed", RANDOM_CASES)
def test_random_binary_tree_matches_cirkit(num_variables, depth, repetitions, seed):
    theirs = algorithms.RandomBinaryTree(num_variables, depth=depth, num_repetitions=repetitions,
                                         seed=seed)
    ours = random_binary_tree(num_variables, depth=depth, repetitions=repetitions, seed=seed)
    assert_same_structure(ours, theirs)
    assert_well_formed(ours)


def test_random_binary_tree_depends_on_the_seed():
    a = random_binary_tree(50, seed=1)
    b = random_binary_tree(50, seed=2)
    assert sorted(r.scope for r in a.regions) != sorted(r.scope for r in b.regions)


def test_random_binary_tree_default_depth_and_range():
    assert [max_depth(n) for n in (1, 2, 3, 4, 5, 784)] == [0, 1, 2, 2, 3, 10]
    assert all(r.scope.bit_count() == 1 for r in random_binary_tree(784).leaves)
    with pytest.raises(ValueError):
        random_binary_tree(8, depth=4)
    with pytest.raises(ValueError):
        random_binary_tree(8, repetitions=0)
    with pytest.raises(ValueError):
        random_binary_tree(0)


# ---------------------------------------------------------------------------------- linear tree

LINEAR_CASES = [
    # (num_variables, repetitions, ordering, randomize, seed)
    (1, 1, None, False, 42),
    (28 * 28, 1, None, False, 42),  # image_data's default
    (3 * 4 * 5, 1, None, False, 42),
    (10, 2, None, False, 42),
    (20, 3, None, True, 42),
    (12, 2, [5, 3, 1, 0, 2, 4, 6, 8, 10, 11, 9, 7], True, 3),
    (6, 1, [5, 4, 3, 2, 1, 0], False, 42),
]


@pytest.mark.parametrize("num_variables, repetitions, ordering, randomize, seed", LINEAR_CASES)
def test_linear_tree_matches_cirkit(num_variables, repetitions, ordering, randomize, seed):
    theirs = algorithms.LinearTree(
        num_variables, num_repetitions=repetitions,
        ordering=None if ordering is None else list(ordering), randomize=randomize, seed=seed)
    ours = linear_tree(num_variables, repetitions=repetitions, ordering=ordering,
                       randomize=randomize, seed=seed)
    assert_same_structure(ours, theirs)
    assert_well_formed(ours)


def test_linear_tree_rejects_bad_orderings():
    with pytest.raises(ValueError):
        linear_tree(3, ordering=[0, 1, 1])
    with pytest.raises(ValueError):
        linear_tree(3, repetitions=0)


# ------------------------------------------------------------------------------- Poon-Domingos

PD_CASES = [
    # (shape, delta, max_depth); delta None: image_data's choice
    ((1, 28, 28), None, None),
    ((1, 4, 4), 2, None),
    ((3, 8, 6), None, None),
    ((1, 9, 7), 2, None),
    ((3, 10, 7), 3, None),
    ((1, 16, 12), [4, [2, 3]], None),
    ((2, 12, 9), [[3, 2]], None),
    ((1, 12, 12), 2.5, None),
    ((1, 16, 16), 2, 1),
    ((3, 6, 5), 1, 2),
    ((1, 32, 20), None, None),
]


@pytest.mark.parametrize("shape, delta, max_depth", PD_CASES)
def test_poon_domingos_matches_cirkit(shape, delta, max_depth):
    if delta is None:
        delta = int(max(math.ceil(shape[1] / 8), math.ceil(shape[2] / 8)))
        assert delta == image_delta(shape)
    theirs = algorithms.PoonDomingos(shape, delta=delta, max_depth=max_depth)
    ours = poon_domingos(shape, delta, max_depth=max_depth)
    assert_same_structure(ours, theirs)
    assert_well_formed(ours)


def test_poon_domingos_worked_example_and_channels():
    graph = poon_domingos((1, 4, 4), 2)
    assert len(graph.regions) == 9 and len(graph.partitions) == 6
    assert sorted(r.scope.bit_count() for r in graph.leaves) == [4, 4, 4, 4]
    # Channels are never cut: a leaf pixel of a 3-channel image holds its three channels.
    pixels = poon_domingos((3, 2, 3), 1).leaves
    assert sorted(r.scope for r in pixels) == sorted(
        scope_of(c * 6 + h * 3 + w for c in range(3)) for h in range(2) for w in range(3))


def test_poon_domingos_rejects_small_deltas():
    with pytest.raises(ValueError):
        poon_domingos((1, 4, 4), 0.5)
    with pytest.raises(ValueError):
        poon_domingos((1, 4, 4), [[1, 2, 3]])
