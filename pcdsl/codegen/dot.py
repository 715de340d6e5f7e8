"""Graphviz DOT text of a region graph or of a folded layer graph, for `pcc graph`.

Pure functions from the IR to a string; rendering to SVG or PNG is Graphviz's job. Every
label goes through ``quote``, so no text (a region's name, a file name) can end a DOT
string or start a statement. Large graphs are cut to ``max_nodes`` nodes nearest the
root, breadth first; a region whose partitions were cut is drawn dashed, and a comment at
the top says how much is shown.

Regions are boxes labelled with their scope: for images a pixel rectangle (``rows 0-13,
cols 0-27``), otherwise ranges of variables (``x[0-3, 7]``); a hand-written region also
shows its name. Partitions are small product nodes (a multiplication sign) with an edge from the region
they split and an edge to each of their parts; the root is at the left.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from pcdsl.ir.circuit import LayerKind
from pcdsl.ir.region_graph import RegionGraph
from pcdsl.ir.scope import variables_of
from pcdsl.passes.fold import FoldedCircuit

Shape = tuple[int, int, int]  # channels, height, width


def quote(text: str) -> str:
    """A DOT double-quoted string showing ``text`` literally: backslashes and quotes are
    escaped, line breaks become DOT's ``\\n`` and other control characters are dropped, so
    nothing in ``text`` can close the string or reach Graphviz's own escapes (``\\N``)."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char.isprintable() or char == " ":
            out.append(char)
    return '"' + "".join(out) + '"'


def comment(text: str) -> str:
    """A ``//`` comment line showing ``text``: a line break in it would end the comment and
    let the rest be read as DOT statements, so every non-printable character is dropped."""
    return "// " + "".join(c for c in text if c.isprintable())


# Scopes as short labels -------------------------------------------------------------------

def ranges(values: Sequence[int], limit: int = 4) -> str:
    """``0-3, 7, 9-12`` for sorted values; at most ``limit`` runs, then ``...``."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        shown.append("...")
    return ", ".join(shown)


def scope_label(scope: int, image_shape: Shape | None) -> str:
    """A compact description of a scope: a pixel, a rectangle of pixels (with the channels
    when not all of them), or else ranges of variables and their count."""
    variables = list(variables_of(scope))
    if image_shape is not None and variables:
        rectangle = _rectangle(variables, image_shape)
        if rectangle is not None:
            return rectangle
    text = f"x[{ranges(variables)}]"
    return text if len(variables) <= 4 else f"{text}\n{len(variables)} variables"


def _rectangle(variables: list[int], shape: Shape) -> str | None:
    channels, height, width = shape
    plane = height * width
    cs = sorted({v // plane for v in variables})
    rows = sorted({v % plane // width for v in variables})
    cols = sorted({v % width for v in variables})
    full = len(cs) * len(rows) * len(cols) == len(variables)
    contiguous = rows[-1] - rows[0] + 1 == len(rows) and cols[-1] - cols[0] + 1 == len(cols)
    if not (full and contiguous):
        return None
    if len(rows) == 1 and len(cols) == 1:
        where = f"pixel ({rows[0]}, {cols[0]})"
    else:
        where = f"rows {ranges(rows)}, cols {ranges(cols)}"
    if len(cs) == channels:
        return where
    return f"{where}\nchannels {ranges(cs)}"


# Region graphs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """The part of a region graph that is drawn."""

    regions: tuple[int, ...]  # breadth-first from the root
    partitions: tuple[int, ...]
    cut: frozenset[int]  # regions drawn without (all of) their partitions


def select(graph: RegionGraph, max_nodes: int | None) -> Selection:
    """Regions and partitions nearest the root, breadth first, at most ``max_nodes`` of them
    together (``None``: all). A partition is drawn with all its parts or not at all."""
    regions, partitions = [graph.root], []
    seen = {graph.root}
    cut: set[int] = set()
    queue = deque([graph.root])
    while queue:
        region = queue.popleft()
        for p in graph.regions[region].partitions:
            new = [r for r in dict.fromkeys(graph.partitions[p].inputs) if r not in seen]
            if max_nodes is not None and len(regions) + len(partitions) + 1 + len(new) > max_nodes:
                cut.add(region)
                continue
            partitions.append(p)
            for r in new:
                seen.add(r)
                regions.append(r)
                queue.append(r)
    return Selection(tuple(regions), tuple(partitions), frozenset(cut))


def region_graph_dot(graph: RegionGraph, *, title: str = "region graph",
                     image_shape: Shape | None = None, max_nodes: int | None = None) -> str:
    """DOT text of ``graph``: regions as boxes (root bold), partitions as product nodes."""
    chosen = select(graph, max_nodes)
    total = len(graph.regions) + len(graph.partitions)
    shown = len(chosen.regions) + len(chosen.partitions)
    lines = [comment(f"{title}: {len(graph.regions)} regions, {len(graph.partitions)} partitions")]
    if shown < total:
        lines.append(f"// showing {shown} of {total} nodes, nearest the root; dashed regions "
                     "have partitions not shown")
    lines += [
        f"digraph {quote(title)} {{",
        # Left to right: the breadth of a region graph grows level by level, and its boxes
        # are wider than tall, so stacking a level's boxes vertically keeps every example
        # inside Graphviz's largest bitmap (top to bottom, MNIST's was 32767 x 869 pixels,
        # scaled down to fit).
        "  graph [rankdir=LR, nodesep=0.15, ranksep=0.3];",
        '  node [fontname="Helvetica", fontsize=10];',
        "  edge [arrowsize=0.5];",
    ]
    for r in chosen.regions:
        region = graph.regions[r]
        label = scope_label(region.scope, image_shape)
        if region.name:
            label = f"{region.name}\n{label}"
        style = ["rounded"] + (["bold"] if r == graph.root else []) + (
            ["dashed"] if r in chosen.cut else [])
        lines.append(f"  r{r} [shape=box, style={quote(','.join(style))}, label={quote(label)}];")
    for p in chosen.partitions:
        lines.append(f'  p{p} [shape=circle, width=0.25, fixedsize=true, label="\u00d7"];')
    for p in chosen.partitions:
        partition = graph.partitions[p]
        lines.append(f"  r{partition.region} -> p{p};")
        lines.extend(f"  p{p} -> r{child};" for child in partition.inputs)
    lines.append("}")
    return "\n".join(lines) + "\n"


# Folded layer graphs ----------------------------------------------------------------------

_FOLD_SHAPES = {"sum": "box", "product": "circle", "input": "ellipse"}


def _role(kind: LayerKind) -> str:
    return "input" if kind.is_input else "sum" if kind.is_sum else "product"


# An edge across more ranks than this is named in its reader's label instead: Graphviz
# routes a long edge through a dummy node per rank it crosses, and the input folds of a
# deep circuit (a linear tree's) fan out to every depth, which takes it minutes to lay out.
MAX_EDGE_SPAN = 4


def layer_graph_dot(folded: FoldedCircuit, *, title: str = "layers", max_nodes: int | None = None,
                    max_edge_span: int = MAX_EDGE_SPAN) -> str:
    """DOT text of the folds of a circuit: one node per fold (kind, members x units), an
    edge from every fold a fold reads, folds of one depth on one rank. At most
    ``max_nodes`` folds are drawn, those nearest the output; edges longer than
    ``max_edge_span`` depths become a line ``reads ...`` in the reader's label."""
    folds = folded.folds
    shown = folds if max_nodes is None or len(folds) <= max_nodes else folds[len(folds) - max_nodes:]
    drawn = {f.id for f in shown}
    lines = [comment(f"{title}: {len(folds)} folds, depth {folded.depth}")]
    if len(shown) < len(folds):
        lines.append(f"// showing the {len(shown)} folds nearest the output")
    lines += [f"digraph {quote(title)} {{",
              "  graph [rankdir=BT, nodesep=0.2, ranksep=0.35];",
              '  node [fontname="Helvetica", fontsize=10];',
              "  edge [arrowsize=0.5];"]
    edges = []
    for fold in shown:
        label = f"{fold.id}: {fold.kind.value}\n{fold.size} x {fold.num_units} units"
        if fold.arity > 1:
            label += f", arity {fold.arity}"
        far = []
        for source in fold.gather.sources if fold.gather is not None else ():
            if source in drawn and fold.depth - folds[source].depth <= max_edge_span:
                edges.append(f"  f{source} -> f{fold.id};")
            else:
                far.append(str(source))
        if far:
            label += f"\nreads {', '.join(far)}"
        bold = ', style="bold"' if fold.id == folded.output_fold else ""
        lines.append(f"  f{fold.id} [shape={_FOLD_SHAPES[_role(fold.kind)]}{bold}, "
                     f"label={quote(label)}];")
    for depth in sorted({f.depth for f in shown}):
        members = " ".join(f"f{f.id};" for f in shown if f.depth == depth)
        lines.append(f"  {{ rank=same; {members} }}")
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"
