"""Scopes as bit sets and as runs: the two forms hold the same variables, and runs are
canonical (equal sets, equal runs), which is what lets them compare and hash as sets."""

from __future__ import annotations

import random

from pcdsl.ir.scope import (
    describe_scope,
    runs_of,
    runs_scope,
    runs_size,
    runs_variables,
    scope_of,
    union_runs,
    variables_of,
)


def test_runs_agree_with_sets_on_random_scopes():
    rng = random.Random(1)
    for _ in range(2000):
        n = rng.choice([5, 50, 300])  # below and above the size where numpy takes over
        sets = [set(rng.sample(range(n), rng.randrange(0, n))) for _ in range(rng.randrange(1, 5))]
        runs = [runs_of(s) for s in sets]
        for variables, r in zip(sets, runs):
            assert runs_variables(r) == tuple(sorted(variables))
            assert runs_size(r) == len(variables)
            assert runs_scope(r) == scope_of(variables)
            starts, stops = r[::2], r[1::2]
            assert all(a < b for a, b in zip(starts, stops))  # non-empty
            assert all(b < a for b, a in zip(stops, starts[1:]))  # apart: not even adjacent
        assert union_runs(runs) == runs_of(set().union(*sets))


def test_runs_of_worked_examples():
    assert runs_of([7, 1, 2, 3, 3, 9, 8]) == (1, 4, 7, 10)
    assert runs_of(range(5, 9)) == (5, 9) and runs_of(range(0)) == ()
    assert runs_of(range(1, 12, 5)) == (1, 2, 6, 7, 11, 12)  # a pixel's three channels
    assert union_runs([(0, 2), (2, 4), (6, 7)]) == (0, 4, 6, 7)  # adjacent runs join
    assert union_runs([(0, 5), (1, 3)]) == (0, 5)


def test_bit_sets_round_trip_and_describe():
    for variables in ([], [0], [3, 64, 65], list(range(0, 1000, 7))):
        assert variables_of(scope_of(variables)) == tuple(variables)
    assert describe_scope(scope_of(range(10))) == "{x[0], x[1], x[2], x[3], x[4], x[5], ... (10 variables)}"
