"""DOT text of region graphs and layer graphs: it parses (balanced, every edge between
declared nodes), it draws one node per region and per partition (or per fold), labels
are escaped so that no text can break out of them, and big graphs are cut quickly."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pcdsl.codegen.dot import layer_graph_dot, quote, ranges, region_graph_dot, scope_label, select
from pcdsl.driver import compile_file, compile_source
from pcdsl.ir.region_graph import RegionGraphBuilder
from pcdsl.ir.scope import scope_of

ROOT = Path(__file__).resolve().parents[2]

SMALL = """model m {
  data    = image(channels = 1, height = 3, width = 2, values = 3)
  regions = quad_graph
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
}
"""


# A small DOT reader -----------------------------------------------------------------------

@dataclass
class Dot:
    name: str
    nodes: dict[str, dict[str, str]]
    edges: list[tuple[str, str]]
    comments: list[str]


_TOKEN = re.compile(r'\s+|//[^\n]*|"(?:[^"\\]|\\.)*"|->|[{}\[\];=,]|[A-Za-z_0-9.]+', re.DOTALL)


def tokenize(text: str) -> list[str]:
    """DOT tokens; fails on anything the grammar of our output does not allow (an
    unterminated string, a stray character)."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read DOT at {text[position:position + 40]!r}"
        position = match.end()
        if not match.group().isspace():
            tokens.append(match.group())
    return tokens


def unquote(token: str) -> str:
    assert token.startswith('"') and token.endswith('"')
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), token[1:-1])


def parse_dot(text: str) -> Dot:
    """Read the DOT this package writes: one digraph of node, edge, default and rank
    statements. Asserts it is well formed: balanced, every edge endpoint declared."""
    tokens = tokenize(text)
    comments = [t for t in tokens if t.startswith("//")]
    tokens = [t for t in tokens if not t.startswith("//")]
    assert tokens[0] == "digraph" and tokens[2] == "{" and tokens[-1] == "}", tokens[:3]
    depth = 0
    for t in tokens:
        depth += {"{": 1, "}": -1}.get(t, 0)
        assert depth >= 0
    assert depth == 0
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    body, i = tokens[3:-1], 0
    while i < len(body):
        if body[i] == "{":  # a subgraph: { rank=same; a; b; }
            j = body.index("}", i)
            members = [t for t in body[i + 1:j] if t not in (";", "rank", "=", "same")]
            assert all(m in nodes for m in members), members
            i = j + 1
            continue
        statement = []
        while body[i] != ";":
            statement.append(body[i])
            i += 1
        i += 1
        attributes = {}
        if "[" in statement:
            k = statement.index("[")
            assert statement[-1] == "]"
            items = [t for t in statement[k + 1:-1] if t != ","]
            for key, eq, value in zip(items[::3], items[1::3], items[2::3]):
                assert eq == "="
                attributes[key] = unquote(value) if value.startswith('"') else value
            statement = statement[:k]
        if statement[0] in ("graph", "node", "edge"):
            continue
        if len(statement) == 3 and statement[1] == "->":
            edges.append((statement[0], statement[2]))
        else:
            assert len(statement) == 1, statement
            assert statement[0] not in nodes, f"{statement[0]} declared twice"
            nodes[statement[0]] = attributes
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} between undeclared nodes"
    return Dot(unquote(tokens[1]), nodes, edges, comments)


def compiled(source: str = SMALL, fold: bool = False):
    return compile_source(source, "spec.pc", fold=fold, require_valid=False).models[0]


# Region graphs ----------------------------------------------------------------------------

def test_one_node_per_region_and_partition():
    model = compiled()
    graph = model.circuit.region_graph
    dot = parse_dot(region_graph_dot(graph, title="m", image_shape=model.circuit.image_shape))
    regions = [n for n in dot.nodes if n.startswith("r")]
    partitions = [n for n in dot.nodes if n.startswith("p")]
    assert len(regions) == len(graph.regions) and len(partitions) == len(graph.partitions)
    assert len(dot.edges) == sum(1 + len(p.inputs) for p in graph.partitions)
    assert all(dot.nodes[p]["shape"] == "circle" for p in partitions)
    assert all(dot.nodes[r]["shape"] == "box" for r in regions)
    # Each partition: one edge in from the region it splits, one out per part.
    for p in graph.partitions:
        assert (f"r{p.region}", f"p{p.id}") in dot.edges
        assert {b for a, b in dot.edges if a == f"p{p.id}"} == {f"r{r}" for r in p.inputs}
    assert "bold" in dot.nodes[f"r{graph.root}"]["style"]
    assert dot.name == "m"


def test_image_scopes_are_pixel_rectangles():
    model = compiled()
    dot = parse_dot(region_graph_dot(model.circuit.region_graph, title="m",
                                     image_shape=model.circuit.image_shape))
    labels = {attributes["label"] for attributes in dot.nodes.values() if "label" in attributes}
    assert "rows 0-2, cols 0-1" in labels  # the root: the whole 3x2 image
    assert "pixel (2, 1)" in labels


def test_scope_labels():
    shape = (2, 4, 4)  # variables c*16 + r*4 + k
    assert scope_label(scope_of([5, 21]), shape) == "pixel (1, 1)"
    assert scope_label(scope_of([5]), shape) == "pixel (1, 1)\nchannels 0"
    whole = scope_of(c * 16 + r * 4 + k for c in range(2) for r in range(1, 3) for k in range(4))
    assert scope_label(whole, shape) == "rows 1-2, cols 0-3"
    assert scope_label(scope_of([0, 5]), shape) == "x[0, 5]"  # not a rectangle
    assert scope_label(scope_of(range(10)), None) == "x[0-9]\n10 variables"
    assert ranges([0, 1, 2, 5, 7, 8, 10, 12, 14]) == "0-2, 5, 7-8, 10, ..."


def test_hand_written_regions_show_their_names():
    model = compile_file(str(ROOT / "examples" / "hand_written.pc"), fold=False).models[0]
    dot = parse_dot(region_graph_dot(model.circuit.region_graph, title="hand_written"))
    labels = {a["label"].split("\n")[0] for a in dot.nodes.values()}
    assert {"root", "front", "back", "odd", "even"} <= labels


@pytest.mark.parametrize("text", ['a"b', "back\\slash", "two\nlines", 'end\\', '\\N "}; x -> y',
                                  "\u202eright-to-left", "tab\there"])
def test_labels_are_escaped(text):
    builder = RegionGraphBuilder(2)
    a, b = builder.region(1, name=text), builder.region(2)
    root = builder.region(3, name="root")
    builder.split(root, [a, b])
    graph = builder.build(root)
    dot = parse_dot(region_graph_dot(graph, title=text))
    assert dot.name == "".join(c for c in text if c.isprintable() or c in " \n")
    assert len(dot.nodes) == 4 and len(dot.edges) == 3
    labels = [n["label"] for n in dot.nodes.values()]
    shown = "".join(c for c in text if c.isprintable() or c in " \n")
    assert any(label.startswith(shown + "\n") for label in labels)


def test_quote():
    assert quote('say "hi"\\n') == '"say \\"hi\\"\\\\n"'
    assert quote("a\nb") == '"a\\nb"'
    assert quote("bell\x07\u202e") == '"bell"'


def test_max_nodes_keeps_the_nodes_nearest_the_root():
    model = compile_file(str(ROOT / "examples" / "mnist.pc"), fold=False).models[0]
    graph = model.circuit.region_graph
    text = region_graph_dot(graph, title="mnist", image_shape=(1, 28, 28), max_nodes=50)
    dot = parse_dot(text)
    assert 40 <= len(dot.nodes) <= 50
    assert f"r{graph.root}" in dot.nodes
    assert any("showing" in c for c in dot.comments)
    assert any("dashed" in a.get("style", "") for a in dot.nodes.values())
    chosen = select(graph, 50)
    assert len(chosen.regions) + len(chosen.partitions) == len(dot.nodes)


def test_the_whole_mnist_graph_is_quick():
    model = compile_file(str(ROOT / "examples" / "mnist.pc"), fold=False).models[0]
    graph = model.circuit.region_graph
    start = time.perf_counter()
    text = region_graph_dot(graph, title="mnist", image_shape=(1, 28, 28))
    elapsed = time.perf_counter() - start
    dot = parse_dot(text)
    assert len(dot.nodes) == len(graph.regions) + len(graph.partitions) > 3000
    assert elapsed < 2.0


# Layer graphs -----------------------------------------------------------------------------

def test_one_node_per_fold_and_an_edge_per_source():
    model = compiled(fold=True)
    folded = model.folded
    dot = parse_dot(layer_graph_dot(folded, title="m: layers"))
    assert set(dot.nodes) == {f"f{f.id}" for f in folded.folds}
    expected = {(f"f{s}", f"f{f.id}") for f in folded.folds if f.gather for s in f.gather.sources
                if f.depth - folded.folds[s].depth <= 4}
    assert set(dot.edges) == expected
    for fold in folded.folds:
        label = dot.nodes[f"f{fold.id}"]["label"]
        assert label.startswith(f"{fold.id}: {fold.kind.value}\n{fold.size} x {fold.num_units} units")
    assert "bold" in dot.nodes[f"f{folded.output_fold}"].get("style", "")


def test_long_edges_become_labels_and_max_nodes_cuts_folds():
    model = compile_file(str(ROOT / "examples" / "linear_tree.pc")).models[0]
    folded = model.folded
    dot = parse_dot(layer_graph_dot(folded))
    assert any("reads 0" in a["label"] for a in dot.nodes.values())
    for a, b in dot.edges:
        assert folded.folds[int(b[1:])].depth - folded.folds[int(a[1:])].depth <= 4
    cut = parse_dot(layer_graph_dot(folded, max_nodes=20))
    assert len(cut.nodes) == 20
    assert f"f{folded.output_fold}" in cut.nodes
