"""Variable scopes as integer bit sets: union is `|`, disjointness is `a & b == 0`.

Bit sets make set algebra on a few scopes short to write (diagnostics, hand-written
structure); region graphs keep sorted tuples of variables, whose size is the region's
rather than the data's (see ``region_graph.py``).
"""

from __future__ import annotations

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


def describe_scope(scope: int, limit: int = 6) -> str:
    """`{x[0], x[1], x[5]}`, or a count with the first few when long."""
    variables = variables_of(scope)
    shown = ", ".join(f"x[{v}]" for v in variables[:limit])
    if len(variables) > limit:
        shown += f", ... ({len(variables)} variables)"
    return "{" + shown + "}"
