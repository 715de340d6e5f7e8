"""Variable scopes, in two forms.

* Bit sets (``int``): union is `|`, disjointness is `a & b == 0`. Short to write for a
  few scopes (diagnostics, a layer's scope), but a bit set is as wide as its largest
  variable: a pixel of a 3x256x256 image costs 24 KiB whatever its size.
* Runs (``Runs``): the scope as sorted, disjoint, non-adjacent half-open runs of
  variables, flat: ``(start, stop, start, stop, ...)``. A region of an image is a few
  runs per row it spans (one per channel), a suffix of a chain one run, so region graphs
  keep their scopes as runs and cost about what their regions hold, not regions x data.
  Equal sets have equal runs, so runs compare and hash as the sets they stand for.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def scope_of(variables) -> int:
    """The bit set of some variables. Many variables are packed by numpy: OR-ing them in
    one at a time would copy the growing integer once per variable."""
    variables = variables if isinstance(variables, (tuple, list, range)) else list(variables)
    if len(variables) <= 64:
        mask = 0
        for v in variables:
            mask |= 1 << v
        return mask
    bits = np.zeros(max(variables) + 1, np.uint8)
    bits[np.asarray(variables)] = 1
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def variables_of(scope: int) -> tuple[int, ...]:
    """The variables of a bit set, in increasing order. Sparse sets peel off their lowest
    bit; dense ones are unpacked by numpy, so a scope over thousands of variables costs
    microseconds rather than a Python step per bit."""
    if scope.bit_count() <= 64:
        out = []
        while scope:
            low = scope & -scope
            out.append(low.bit_length() - 1)
            scope ^= low
        return tuple(out)
    packed = np.frombuffer(scope.to_bytes((scope.bit_length() + 7) // 8, "little"), np.uint8)
    return tuple(np.flatnonzero(np.unpackbits(packed, bitorder="little")).tolist())


Runs = tuple[int, ...]  # (start, stop, start, stop, ...), see the module docstring


def runs_of(variables: Iterable[int]) -> Runs:
    """The runs of some variables (in any order, repeats allowed)."""
    if isinstance(variables, range) and variables.step == 1:
        return (variables.start, variables.stop) if variables else ()
    return _coalesce(sorted(set(variables)))


def _coalesce(ordered: list[int]) -> Runs:
    """The runs of sorted distinct variables."""
    if not ordered:
        return ()
    if len(ordered) > 64:
        array = np.asarray(ordered, np.int64)
        breaks = np.flatnonzero(np.diff(array) != 1) + 1
        starts = array[np.concatenate([[0], breaks])]
        stops = array[np.concatenate([breaks - 1, [len(array) - 1]])] + 1
        return tuple(np.stack([starts, stops], axis=1).reshape(-1).tolist())
    out = [ordered[0], ordered[0] + 1]
    for v in ordered[1:]:
        if v == out[-1]:
            out[-1] = v + 1
        else:
            out += (v, v + 1)
    return tuple(out)


def union_runs(parts: Iterable[Runs]) -> Runs:
    """The runs of the union of some scopes given as runs."""
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return parts[0] if parts else ()
    starts, stops = parts[0][::2], parts[0][1::2]
    for part in parts[1:]:
        starts += part[::2]
        stops += part[1::2]
    if len(starts) > 64:  # sort by start, then a run ends where no earlier run reaches on
        order = np.argsort(np.asarray(starts), kind="stable")
        first, last = np.asarray(starts)[order], np.maximum.accumulate(np.asarray(stops)[order])
        breaks = np.flatnonzero(first[1:] > last[:-1]) + 1
        merged = np.stack([first[np.concatenate([[0], breaks])],
                           last[np.concatenate([breaks - 1, [len(first) - 1]])]], axis=1)
        return tuple(merged.reshape(-1).tolist())
    out: list[int] = []
    for start, stop in sorted(zip(starts, stops)):
        if out and start <= out[-1]:
            if stop > out[-1]:
                out[-1] = stop
        else:
            out += (start, stop)
    return tuple(out)


def runs_size(runs: Runs) -> int:
    """How many variables the runs hold."""
    return sum(runs[1::2]) - sum(runs[::2])


def runs_variables(runs: Runs) -> tuple[int, ...]:
    """The variables of some runs, in increasing order."""
    return tuple(v for start, stop in zip(runs[::2], runs[1::2]) for v in range(start, stop))


def runs_scope(runs: Runs) -> int:
    """The bit set of some runs."""
    scope = 0
    for start, stop in zip(runs[::2], runs[1::2]):
        scope |= ((1 << (stop - start)) - 1) << start
    return scope


def describe_scope(scope: int, limit: int = 6) -> str:
    """`{x[0], x[1], x[5]}`, or a count with the first few when long."""
    variables = variables_of(scope)
    shown = ", ".join(f"x[{v}]" for v in variables[:limit])
    if len(variables) > limit:
        shown += f", ... ({len(variables)} variables)"
    return "{" + shown + "}"
