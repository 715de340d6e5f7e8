"""What one model may ask the compiler to build, checked from its settings before
lowering builds anything: a spec beyond these limits gets a ``too-large`` diagnostic
instead of a compile that runs for minutes or exhausts memory."""

from __future__ import annotations

from pcdsl.diagnostics import Diagnostic, error
from pcdsl.ir.region_graphs.poon_domingos import image_delta
from pcdsl.syntax.typed import KindValue, ModelSpec

# Lowering and the passes are linear or close to it in layers and in the total size of
# the regions' scopes (runs of variables, see scope.py), so a layer count and a
# variable count bound the time and memory of a compile.
MAX_VARIABLES = 1 << 18  # a 3 x 256 x 256 image is 196,608
MAX_LAYERS = 1_000_000  # estimated from the settings, before anything is built
# A learned tree's regions are its subtrees, as many runs as variables in the worst case:
# a deep tree (a chain holds about n^2 / 2) is refused when its file is read. 2^26 runs
# are about 1 GB.
MAX_SCOPE_ENTRIES = 1 << 26


def size_errors(spec: ModelSpec) -> list[Diagnostic]:
    """A ``too-large`` error when the model would exceed ``MAX_VARIABLES`` or (by the
    estimate of ``estimated_layers``) ``MAX_LAYERS``; checked before anything is built."""
    variables = spec.num_variables
    if variables > MAX_VARIABLES:
        return [error(
            "too-large", f"model '{spec.name}' has {variables:,} variables; pcc builds "
            f"models over at most {MAX_VARIABLES:,}", spec.data.span or spec.span,
            "use a smaller image or fewer variables")]
    layers = estimated_layers(spec)
    if layers > MAX_LAYERS:
        where = spec.regions.span if spec.regions is not None and spec.regions.span else spec.span
        return [error(
            "too-large", f"model '{spec.name}' would have about {layers:,} layers; pcc "
            f"builds models of at most {MAX_LAYERS:,}", where,
            "use fewer repetitions, a larger 'delta', or a smaller image")]
    return []


def estimated_layers(spec: ModelSpec) -> int:
    """About how many layers lowering builds, from the settings alone (an upper estimate:
    options that prune a graph, such as ``max_depth``, are ignored). A hand-written
    structure is bounded by its own text, so it counts 0."""
    regions, shape = spec.regions, spec.image_shape
    if spec.structure is not None or regions is None or shape is None:
        return 0
    variables = spec.num_variables
    pixels = shape[1] * shape[2]
    # Per partition: a dense sum per part and a product (cp); per region: one mixing sum.
    if regions.kind in ("quad_graph", "quad_tree"):
        return variables + 8 * pixels
    if regions.kind in ("random_binary_tree", "linear_tree"):
        return 4 * variables * _int_option(regions, "repetitions", 1)
    if regions.kind == "poon_domingos":
        delta = _int_option(regions, "delta", 0) or image_delta(shape)
        rows, columns = ((side - 1) // delta + 1 for side in shape[1:])
        rectangles = _intervals(rows) * _intervals(columns)
        partitions = _cuts(rows) * _intervals(columns) + _cuts(columns) * _intervals(rows)
        return variables + rectangles + 3 * partitions
    return variables


def _intervals(segments: int) -> int:
    """Intervals of consecutive segments out of ``segments``: the rectangles along an axis."""
    return segments * (segments + 1) // 2


def _cuts(segments: int) -> int:
    """Cut points inside all the intervals along an axis: sum of (length - 1) per interval."""
    return (segments + 1) * segments * (segments - 1) // 6


def _int_option(value: KindValue, name: str, default: int) -> int:
    try:
        option = value[name]
    except KeyError:
        return default
    return option if isinstance(option, int) else default
