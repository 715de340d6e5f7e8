"""The numeric scheme of (mantissa, log-scale) pairs: renormalising vectors to a largest
unit of 1, log-values as pairs, and the cache-sized chunks that large work is done in.

Every kernel that renormalises calls ``_largest_unit``. A circuit whose weights can be
negative needs the largest unit in magnitude instead: its module binds ``_largest_unit =
_largest_magnitude`` itself, and then carries no ``_largest_unit`` of this file."""

from __future__ import annotations

import torch
from torch import Tensor

# INLINED: from here on, this file is copied into every generated module.


def _renormalise(h: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """Rescale each vector of a freshly computed ``h`` to a largest unit of 1, in place,
    moving the factor into ``s``. (In place is safe under autograd: the products and sums
    that made ``h`` saved their inputs, not ``h``.)"""
    with torch.no_grad():
        m = _largest_unit(h)
        s = s + _log_factors(m)
    return h.div_(m), s


def _returned(h: Tensor) -> Tensor:
    """What an autograd function's forward returns for ``h``, an output it wrote in place:
    under torch.compile a view of it, because torch 2.11 compiles a forward whose output was
    written in place (``mul_``, ``div_``, ``out=``) into a step whose gradients are zero
    (2.12 and later do not); eagerly ``h`` itself."""
    return h.view_as(h) if torch.compiler.is_compiling() else h


def _log_factors(largest: Tensor) -> Tensor:
    """The logs of largest units (..., 1), as (...) log-scales. Under bf16 autocast the
    mantissas are bf16 while the log-scales stay float32: the log is taken in float32,
    which a bf16 log would round to 3 significant digits."""
    largest = largest.squeeze(-1)
    wide = largest.dtype in (torch.float32, torch.float64)
    return torch.log(largest if wide else largest.float())


def _largest_unit(h: Tensor) -> Tensor:
    """Each vector's largest unit, (..., 1), or 1 where the vector is all zero (so that
    dividing by it leaves a zero vector zero)."""
    m = h.amax(dim=-1, keepdim=True)
    return torch.where(m > 0, m, torch.ones_like(m))


def _largest_magnitude(h: Tensor) -> Tensor:
    """Each vector's largest unit in magnitude (weights may be negative), (..., 1), or 1
    where the vector is all zero (so that dividing by it leaves a zero vector zero)."""
    m = h.abs().amax(dim=-1, keepdim=True)
    return torch.where(m > 0, m, torch.ones_like(m))


def _rescaled(log_values: Tensor) -> tuple[Tensor, Tensor]:
    """Log-values (..., K) as a (mantissa, log-scale) pair: (..., K) rescaled to a largest
    unit of 1, and the (...) log-scales (0 where no unit is finite)."""
    with torch.no_grad():
        s = log_values.amax(dim=-1)
        s = torch.where(torch.isfinite(s), s, torch.zeros_like(s))
    return torch.exp(log_values - s.unsqueeze(-1)), s


# Work on large tensors goes in chunks of about this size on a CPU: a chunk's temporaries
# stay in the cache between the element-wise passes over them, and they are served from
# the heap again and again, whereas a large temporary is mapped fresh on every call
# (glibc's threshold is at most 32 MiB) and every page is zero-filled by the kernel on
# first touch, a cost comparable to the arithmetic.
_CHUNK_BYTES = 1 << 20


def _chunks(count: int, bytes_per_item: int,
            device: torch.device) -> list[tuple[int, int]]:
    """[start, stop) ranges covering ``count`` items, each of at most ``_CHUNK_BYTES`` on a
    CPU; one range elsewhere (a GPU's caching allocator reuses its memory anyway, and every
    chunk would cost kernel launches) and under torch.compile (which fuses the passes)."""
    if device.type != "cpu" or torch.compiler.is_compiling():
        return [(0, count)]
    step = max(1, _CHUNK_BYTES // max(1, bytes_per_item))
    return [(start, min(count, start + step)) for start in range(0, count, step)]
