"""Variable scopes as integer bit sets: union is `|`, disjointness is `a & b == 0`.

Bit sets keep the structure passes linear-time on circuits with thousands of layers.
"""

from __future__ import annotations


def scope_of(variables) -> int:
    mask = 0
    for v in variables:
        mask |= 1 << v
    return mask


def variables_of(scope: int) -> tuple[int, ...]:
    out = []
    v = 0
    while scope:
        if scope & 1:
            out.append(v)
        scope >>= 1
        v += 1
    return tuple(out)


def describe_scope(scope: int, limit: int = 6) -> str:
    """`{x[0], x[1], x[5]}`, or a count with the first few when long."""
    variables = variables_of(scope)
    shown = ", ".join(f"x[{v}]" for v in variables[:limit])
    if len(variables) > limit:
        shown += f", ... ({len(variables)} variables)"
    return "{" + shown + "}"
