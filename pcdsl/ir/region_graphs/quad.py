"""Quad-tree and quad-graph region graphs over images (Mari, Vessio and Vergari, 2023).

Pixels (each over all its channels) are merged level by level in 2x2 patches until one
region covers the image; odd sizes carry a lone row or column up unmerged. A 2x2 merge
is split

* quad-tree, 2 splits: rows first (top = p00 p01, bottom = p10 p11), then top * bottom;
* quad-tree, 4 splits: one four-way partition p00 * p01 * p10 * p11;
* quad-graph: both rows-first and columns-first, two partitions of the same region,
  so the graph is a DAG and not structured-decomposable.

The construction, including the order in which regions are made, follows libcirkit
0.3.1's ``QuadTree``/``QuadGraph`` so that the circuits agree layer for layer.
"""

from __future__ import annotations

from pcdsl.ir.region_graph import RegionGraph, RegionGraphBuilder
from pcdsl.ir.scope import Runs


def pixel_runs(shape: tuple[int, int, int], row: int, column: int) -> Runs:
    """Variables of one pixel, its channels in channel-row-column flattening, as runs."""
    channels, height, width = shape
    plane = height * width
    if plane == 1:  # the image is one pixel: its channels are consecutive
        return (0, channels)
    first = row * width + column
    return tuple(v for c in range(channels) for v in (first + c * plane, first + c * plane + 1))


def quad_tree(shape: tuple[int, int, int], splits: int = 2) -> RegionGraph:
    """Structured-decomposable quad-tree with 2 or 4 parts per 2x2 merge."""
    if splits not in (2, 4):
        raise ValueError("a quad-tree splits a patch into 2 or 4 parts")
    return _quad(shape, graph=False, splits=splits)


def quad_graph(shape: tuple[int, int, int]) -> RegionGraph:
    """Quad-graph: every 2x2 merge split both rows-first and columns-first."""
    return _quad(shape, graph=True, splits=2)


def _quad(shape: tuple[int, int, int], *, graph: bool, splits: int) -> RegionGraph:
    channels, height, width = shape
    if min(shape) <= 0:
        raise ValueError("image dimensions must be positive")
    builder = RegionGraphBuilder(channels * height * width)
    grid: list[list[int | None]] = [
        [builder.region_of_runs(pixel_runs(shape, i, j)) for j in range(width)]
        for i in range(height)
    ]

    def merge_four(p00: int, p01: int, p10: int, p11: int) -> int:
        if splits == 4 and not graph:
            return builder.merge([p00, p01, p10, p11])
        top = builder.merge([p00, p01])
        bottom = builder.merge([p10, p11])
        whole = builder.merge([top, bottom])
        if graph:
            left = builder.merge([p00, p10])
            right = builder.merge([p01, p11])
            builder.split(whole, [left, right])
        return whole

    while height > 1 or width > 1:
        height, width = (height + 1) // 2, (width + 1) // 2
        previous = grid
        grid = []
        for i in range(height):
            row: list[int | None] = []
            for j in range(width):
                patch = [
                    previous[a][b]
                    for a, b in ((2 * i, 2 * j), (2 * i, 2 * j + 1),
                                 (2 * i + 1, 2 * j), (2 * i + 1, 2 * j + 1))
                    if a < len(previous) and b < len(previous[0])
                ]
                if len(patch) == 1:
                    row.append(patch[0])
                elif len(patch) == 2:
                    row.append(builder.merge(patch))  # type: ignore[arg-type]
                else:
                    row.append(merge_four(*patch))  # type: ignore[misc]
            grid.append(row)
    root = grid[0][0]
    assert root is not None
    return builder.build(root)
