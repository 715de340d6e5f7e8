"""Poon-Domingos region graphs over images (Poon and Domingos, 2011).

Regions are axis-aligned rectangles of the image, each over all channels of its pixels
(channels are never cut). A rectangle is split in two at every *cut point* that lies
strictly inside it, along rows and along columns, one partition per cut point; the pieces
are split in turn, and a rectangle reached by several cuts is one shared region, so the
graph is a DAG. Rectangles without a cut point inside are the leaves.

The cut points come from ``delta``: along an axis of size ``n`` with step ``d`` they are
``int(d), int(2d), ...``, the ``int((n - 1) // d)`` multiples below ``n``. ``delta`` is
one step for both axes, a list of steps, or a list of (row step, column step) pairs. With
several steps a rectangle is cut at the points of the first step that has one inside it,
and only those. Rectangles are expanded breadth-first from the whole image; one found
first at depth (number of cuts from the image) greater than ``max_depth`` is kept
unsplit. The default ``max_depth`` never stops the cutting.

Example: a 1x4x4 image with delta 2 has cut points 2 along rows and along columns. The
image rows 0-4 x columns 0-4 is split twice, into rows 0-2 | 2-4 and into columns 0-2 | 2-4;
rows 0-2 x columns 0-4 is split at column 2 into the 2x2 patches at (0, 0) and (0, 2),
which the columns-first half 0-4 x 0-2 shares with its own row cut. Four 2x2 patches are
the leaves, 9 regions in all.

Variables are numbered ``c*H*W + h*W + w``, the numbering of libcirkit 0.3.1's
``HypercubeToScope`` (a C-order ``arange`` over the (C, H, W) shape). The construction
follows libcirkit 0.3.1's ``PoonDomingos``; its ``image_data`` uses
``delta = max(ceil(H / 8), ceil(W / 8))``, see ``image_delta``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder
from pcdsl.ir.scope import Runs

Delta = float | Sequence[float] | Sequence[Sequence[float]]
Box = tuple[int, int, int, int]  # top, left, bottom, right: rows top..bottom-1, columns left..right-1


def image_delta(shape: tuple[int, int, int]) -> int:
    """The step libcirkit's ``image_data`` picks: about 8 cuts along the longer side."""
    _, height, width = shape
    return max(math.ceil(height / 8), math.ceil(width / 8))


def cut_points(shape: tuple[int, int, int], delta: Delta) -> list[tuple[list[int], list[int]]]:
    """For each step, the (row, column) cut points strictly inside the image."""
    _, height, width = shape
    steps: list[float | Sequence[float]] = (
        [delta] if isinstance(delta, (int, float)) else list(delta))  # type: ignore[arg-type]
    out = []
    for step in steps:
        pair = [step, step] if isinstance(step, (int, float)) else list(step)
        if len(pair) != 2:
            raise ValueError("a delta must be one step or a (row step, column step) pair")
        if any(d < 1 for d in pair):
            raise ValueError("every delta must be at least 1")
        rows, columns = ([int((j + 1) * d) for j in range(int((size - 1) // d))]
                         for size, d in zip((height, width), pair))
        out.append((rows, columns))
    return out


def box_runs(shape: tuple[int, int, int], box: Box) -> Runs:
    """The variables of a rectangle over all channels, as runs: one per channel and row,
    one per channel when the rows are whole, one when the rectangle is the image."""
    channels, height, width = shape
    top, left, bottom, right = box
    plane = height * width
    if (left, right) != (0, width):
        return tuple(v for c in range(channels) for h in range(top, bottom)
                     for v in (c * plane + h * width + left, c * plane + h * width + right))
    if (top, bottom) != (0, height):
        return tuple(v for c in range(channels)
                     for v in (c * plane + top * width, c * plane + bottom * width))
    return (0, channels * plane)


def poon_domingos(shape: tuple[int, int, int], delta: Delta,
                  max_depth: int | None = None) -> RegionGraph:
    """Rectangles cut at every multiple of ``delta`` inside them, breadth-first."""
    channels, height, width = shape
    if min(shape) <= 0:
        raise ValueError("image dimensions must be positive")
    steps = cut_points(shape, delta)
    if max_depth is None:
        max_depth = sum(shape) + 1  # more than any number of cuts
    builder = RegionGraphBuilder(channels * height * width)
    regions: dict[Box, int] = {}

    def region(box: Box) -> int:
        if box not in regions:
            regions[box] = builder.region_of_runs(box_runs(shape, box))
        return regions[box]

    image: Box = (0, 0, height, width)
    root = region(image)
    depth = {image: 0}  # also the rectangles already queued
    queue = deque([image])
    while queue:
        box = queue.popleft()
        if depth[box] > max_depth:
            continue
        top, left, bottom, right = box
        for rows, columns in steps:
            found = False
            for axis, points in ((0, rows), (1, columns)):
                low, high = (top, bottom) if axis == 0 else (left, right)
                for point in points:
                    if not low < point < high:
                        continue
                    found = True
                    if axis == 0:
                        pieces = [(top, left, point, right), (point, left, bottom, right)]
                    else:
                        pieces = [(top, left, bottom, point), (top, point, bottom, right)]
                    whole = region(box)
                    builder.split(whole, [region(piece) for piece in pieces])
                    for piece in pieces:
                        if piece not in depth:
                            depth[piece] = depth[box] + 1
                            queue.append(piece)
            if found:
                break
    return builder.build(root)
