"""Argument checks of the generated module's methods: integers, tensors, generators, classes."""

from __future__ import annotations

import torch
from torch import Tensor

# The generated module defines its own (these serve tests).
NUM_CLASSES = 1

# INLINED: from here on, this file is copied into every generated module.


def _integer(value: object, name: str) -> int:
    """A whole number given as an int (or anything integral, such as a NumPy integer or a
    0-d integer tensor), but not a bool and not a float."""
    index = getattr(type(value), "__index__", None)
    if index is None or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, found {type(value).__name__} {value!r}")
    try:
        return int(index(value))
    except TypeError:  # a tensor that is not one integer
        raise TypeError(f"{name} must be an integer, found {value!r}") from None


def _class_index(class_index: object) -> int:
    """Validate a class index against NUM_CLASSES."""
    found = _integer(class_index, "class_index")
    if not 0 <= found < NUM_CLASSES:
        raise ValueError(f"class_index must lie in 0..{NUM_CLASSES - 1}, found {found}")
    return found


def _generator(generator: object) -> torch.Generator | None:
    """Validate a random number generator: a torch.Generator or None (torch's own)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, found "
                        f"{type(generator).__name__}")
    return generator


def _tensor(value: object, name: str) -> Tensor:
    """A tensor as it is, or a NumPy array (anything with ``__array__``) as a tensor."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "__array__"):
        return torch.as_tensor(value)
    raise TypeError(f"{name} must be a tensor (or a NumPy array), found {type(value).__name__}")
