"""Random binary trees (RAT-SPN region graphs; Peharz et al., 2020).

Each repetition grows one random binary tree below a shared root over all variables. The
tree grows level by level, ``depth`` times: every region of the current level has its
variables shuffled and cut in two halves, the first ``round(n / 2)`` variables (rounded
half to even, as numpy rounds) and the rest. A region of one variable cannot be cut and
stays a leaf; the halves form the next level. The root so has one partition per
repetition, and regions of different repetitions are distinct even when their scopes
agree.

Example: 5 variables, depth 2. The root {0..4} is shuffled, say to 3 0 4 1 2, and split
into {0, 3} (round(2.5) = 2 variables) and {1, 2, 4}; then {0, 3} into {0} and {3}, and
{1, 2, 4} into {1, 4} (round(1.5) = 2) and {2}. A third level would split {1, 4}.
The default depth, ``ceil(log2(n))``, splits down to single variables.

The randomness follows libcirkit 0.3.1's ``RandomBinaryTree`` exactly, so the same seed
gives the same graph: one ``numpy.random.RandomState(seed)`` shared by all repetitions,
one ``shuffle`` per region visited, in breadth-first order (repetition, then level, then
the regions of the level in the order they were made, the first half before the second).
What is shuffled is the list of the region's variables in the iteration order of
cirkit's scopes, which are Python frozensets built from the previous shuffle's halves;
this order is not sorted in general (``list(frozenset([8, 1])) == [8, 1]``), so it is
reproduced by building the same frozensets.
"""

from __future__ import annotations

import numpy as np

from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder
from pcdsl.ir.scope import runs_of


def max_depth(num_variables: int) -> int:
    """The deepest useful tree, ``ceil(log2(num_variables))``, also the default depth."""
    if num_variables <= 0:
        raise ValueError("the number of variables must be positive")
    return int(np.ceil(np.log2(num_variables)))


def random_binary_tree(num_variables: int, depth: int | None = None, repetitions: int = 1,
                       seed: int = 42) -> RegionGraph:
    """``repetitions`` random binary trees of ``depth`` levels (default: down to single variables)."""
    deepest = max_depth(num_variables)
    if repetitions <= 0:
        raise ValueError("the number of repetitions must be positive")
    if depth is None:
        depth = deepest
    elif not 0 <= depth <= deepest:
        raise ValueError(f"the depth must be between 0 and {deepest}")
    random_state = np.random.RandomState(seed)
    builder = RegionGraphBuilder(num_variables)
    # The order in which cirkit iterates each region's variables, which the shuffles act on.
    order: dict[int, list[int]] = {}

    def new_region(variables: list[int] | range) -> int:
        region = builder.region_of_runs(runs_of(variables))
        order[region] = _scope_iteration_order(variables)
        return region

    root = new_region(range(num_variables))
    for _ in range(repetitions):
        frontier = [root]
        for _ in range(depth):
            next_frontier: list[int] = []
            for region in frontier:
                variables = list(order[region])
                random_state.shuffle(variables)
                half = round(len(variables) / 2)  # half to even, like numpy's round
                if half in (0, len(variables)):
                    continue  # a single variable: a leaf
                parts = [new_region(variables[:half]), new_region(variables[half:])]
                builder.split(region, parts)
                next_frontier.extend(parts)
            frontier = next_frontier
    return builder.build(root)


def _scope_iteration_order(variables: list[int] | range) -> list[int]:
    # A cirkit region node's scope is a frozenset rebuilt from the frozenset made of its
    # variables in the order given; its iteration order is CPython's hash-table order.
    return list(frozenset(list(frozenset(variables))))
