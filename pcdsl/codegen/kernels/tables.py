"""Index tables: how a generated module turns the tables pcc wrote into tensors."""

from __future__ import annotations

import torch
from torch import Tensor

# INLINED: from here on, this file is copied into every generated module.


def _index(values: tuple[int, ...] | list[int], shape: tuple[int, ...]) -> Tensor:
    """An index table of this file as an int64 tensor of ``shape``."""
    return torch.tensor(values, dtype=torch.long).view(shape)


def _expand(runs: tuple[tuple[int, int, int], ...]) -> list[int]:
    """The values of an index table written as runs: ``(start, step, count)`` is ``count``
    values from ``start`` by ``step``; ``(-back, delta, count)`` repeats ``count`` values
    from ``back`` places earlier, plus ``delta``."""
    values: list[int] = []
    for first, step, count in runs:
        if first >= 0:
            values += range(first, first + step * count, step) if step else [first] * count
        else:
            start = len(values) + first
            values += [value + step for value in values[start:start + count]]
    return values
