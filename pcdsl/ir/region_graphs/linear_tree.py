"""Linear trees: an HMM-like chain that peels off one variable at a time.

Following a variable ordering, the region over all variables is split into the first
variable and the rest, the rest into the second variable and what remains, and so on
until one variable is left. With several repetitions the root has one such chain (one
partition) per repetition; regions of different chains are distinct even when their
scopes agree.

Example: 4 variables, natural order 0 1 2 3:

    {0,1,2,3} = {0} * {1,2,3},   {1,2,3} = {1} * {2,3},   {2,3} = {2} * {3}

For images the variables are the flattened pixels, channel-row-column (``c*H*W + h*W + w``),
so each channel of a pixel is its own leaf.

The construction follows libcirkit 0.3.1's ``LinearTree``: the ordering defaults to the
natural one; with ``randomize`` a ``numpy.random.RandomState(seed)`` shuffles the ordering
in place before each repetition, so repetition ``k`` uses the ordering shuffled ``k`` times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder
from pcdsl.ir.scope import runs_of


def linear_tree(num_variables: int, repetitions: int = 1, ordering: Sequence[int] | None = None,
                randomize: bool = False, seed: int = 42) -> RegionGraph:
    """One chain per repetition, peeling variables off in ``ordering`` (shuffled if ``randomize``)."""
    if num_variables <= 0:
        raise ValueError("the number of variables must be positive")
    if repetitions <= 0:
        raise ValueError("the number of repetitions must be positive")
    if ordering is not None and sorted(ordering) != list(range(num_variables)):
        raise ValueError(f"the ordering must be a permutation of 0 .. {num_variables - 1}")
    order = list(range(num_variables)) if ordering is None else [int(v) for v in ordering]
    builder = RegionGraphBuilder(num_variables)
    root = builder.region_of_runs((0, num_variables))
    random_state = np.random.RandomState(seed) if randomize else None
    if num_variables > 1:
        for _ in range(repetitions):
            if random_state is not None:
                random_state.shuffle(order)
            natural = order == sorted(order)  # then every rest is one run
            region = root
            for i, variable in enumerate(order[:-1]):
                leaf = builder.region_of_runs((variable, variable + 1))
                rest = range(i + 1, num_variables) if natural else order[i + 1:]
                remaining = builder.region_of_runs(runs_of(rest))
                builder.split(region, [leaf, remaining])
                region = remaining
    return builder.build(root)
