"""`pcc graph`: DOT written by pcc itself, SVG/PNG/PDF through Graphviz when it is
installed, a one-line error naming the fix when it is not, and never a half-written file."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from pcdsl.driver import compile_source
from tests.cli.helpers import in_tmp, pcc, write  # noqa: F401 (in_tmp: autouse)
from tests.codegen.test_dot import parse_dot

ROOT = Path(__file__).resolve().parents[2]
MNIST = str(ROOT / "examples" / "mnist.pc")
SMALL = """model m {
  data    = image(height = 3, width = 3, values = 2)
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
}
"""
TWO = "model a { data = image(height = 2, width = 2) }\nmodel b { data = image(height = 2, width = 3) }\n"
NOT_SMOOTH = """model bad {
  data = variables(count = 4, values = 2)
  structure {
    region a = x[0] * x[2]
    region b = x[1] * x[3]
    region r = a * b | x[0] * x[1]
  }
}
"""
HAS_DOT = shutil.which("dot") is not None


def fake_dot(folder: Path, script: str, monkeypatch) -> None:
    """A `dot` program of our own on PATH, so rendering failures can be tested without
    Graphviz."""
    program = folder / "bin" / "dot"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n" + script + "\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_dot_output_has_a_node_per_region_and_partition(capsys, tmp_path):
    spec = write("small.pc", SMALL)
    status, out, err = pcc(capsys, "graph", spec, "-o", "small.dot")
    assert status == 0, err
    assert (out, err) == ("", "")
    graph = compile_source(SMALL, "small.pc").models[0].circuit.region_graph
    dot = parse_dot((tmp_path / "small.dot").read_text(encoding="utf-8"))
    assert sum(n.startswith("r") for n in dot.nodes) == len(graph.regions)
    assert sum(n.startswith("p") for n in dot.nodes) == len(graph.partitions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.dot", "small.pc"]


def test_dot_on_standard_output(capsys):
    spec = write("small.pc", SMALL)
    status, out, _ = pcc(capsys, "graph", spec, "-o", "-")
    assert status == 0
    assert parse_dot(out).name == "m"


def test_layers(capsys, tmp_path):
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "--layers", "-o", "layers.dot")
    assert status == 0, err
    folded = compile_source(SMALL, "small.pc").models[0].folded
    dot = parse_dot((tmp_path / "layers.dot").read_text(encoding="utf-8"))
    assert set(dot.nodes) == {f"f{f.id}" for f in folded.folds}


def test_model_choice(capsys):
    spec = write("two.pc", TWO)
    status, _, err = pcc(capsys, "graph", spec, "-o", "g.dot")
    assert status == 2
    assert "--model" in err and not Path("g.dot").exists()
    status, out, _ = pcc(capsys, "graph", spec, "--model", "b", "-o", "-")
    assert status == 0
    assert parse_dot(out).name == "b"


def test_an_invalid_structure_is_still_drawn(capsys):
    spec = write("bad.pc", NOT_SMOOTH)
    status, out, _ = pcc(capsys, "graph", spec, "-o", "-")
    assert status == 0
    assert {"a", "b", "r"} <= {a["label"].split("\n")[0] for a in parse_dot(out).nodes.values()}


def test_a_broken_spec_exits_1_without_output(capsys, tmp_path):
    spec = write("broken.pc", "model m { data = image(height = 2, width = 2) layers = cp(units = 0) }")
    status, out, err = pcc(capsys, "graph", spec, "-o", "g.dot")
    assert status == 1
    assert "broken.pc:1:" in err and "Traceback" not in err
    assert not (tmp_path / "g.dot").exists()


def test_a_missing_spec_exits_2(capsys):
    status, _, err = pcc(capsys, "graph", "nosuch.pc", "-o", "g.dot")
    assert status == 2
    assert "nosuch.pc" in err


def test_an_unknown_format_exits_2_with_one_line(capsys):
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", "graph.jpeg")
    assert status == 2
    assert err.count("\n") == 1 and ".dot" in err


def test_max_nodes(capsys):
    status, out, err = pcc(capsys, "graph", MNIST, "-o", "-", "--max-nodes", "30")
    assert status == 0
    assert len(parse_dot(out).nodes) <= 30
    assert "drawing" in err and "--max-nodes 0" in err
    status, out, err = pcc(capsys, "graph", MNIST, "-o", "-", "--max-nodes", "0")
    assert status == 0 and err == ""
    assert len(parse_dot(out).nodes) > 3000
    status, _, err = pcc(capsys, "graph", MNIST, "-o", "-", "--max-nodes", "-1")
    assert status == 2


def test_without_graphviz_svg_is_a_one_line_error_naming_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    spec = write("small.pc", SMALL)
    status, out, err = pcc(capsys, "graph", spec, "-o", "small.svg")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "Graphviz" in err and "apt-get install graphviz" in err and ".dot" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.pc"]


def test_a_failing_renderer_leaves_the_old_file_and_no_temporary_file(capsys, tmp_path, monkeypatch):
    fake_dot(tmp_path, "cat > /dev/null; echo '<svg half' ; echo 'Error: syntax error' >&2; exit 1",
             monkeypatch)
    spec = write("small.pc", SMALL)
    Path("small.svg").write_text("previous picture")
    status, _, err = pcc(capsys, "graph", spec, "-o", "small.svg")
    assert status == 2
    assert "Graphviz failed: Error: syntax error" in err and err.count("\n") == 1
    assert Path("small.svg").read_text() == "previous picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "small.pc", "small.svg"]


def test_rendered_output_is_what_the_renderer_printed(capsys, tmp_path, monkeypatch):
    """With a stand-in renderer: the DOT goes in on standard input, its output is the file."""
    fake_dot(tmp_path, 'cat > "$(dirname "$0")/input.dot"; echo "rendered $1"', monkeypatch)
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", "small.png")
    assert status == 0, err
    assert Path("small.png").read_text() == "rendered -Tpng\n"
    assert parse_dot((tmp_path / "bin" / "input.dot").read_text()).name == "m"


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [("svg", b"<svg"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_graphviz_renders(capsys, tmp_path, suffix, magic):
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", f"small.{suffix}")
    assert status == 0, err
    data = (tmp_path / f"small.{suffix}").read_bytes()
    assert magic in data[:400]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_graphviz_renders_the_layers_of_a_deep_circuit_quickly(capsys, tmp_path):
    """A linear tree's input fold feeds every depth; drawn naively, Graphviz takes minutes."""
    status, _, err = pcc(capsys, "graph", str(ROOT / "examples" / "linear_tree.pc"), "--layers",
                         "-o", "layers.svg", "--timeout", "60")
    assert status == 0, err
    assert b"<svg" in (tmp_path / "layers.svg").read_bytes()[:400]


def test_a_timeout_must_be_positive(capsys):
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", "-", "--timeout", "0")
    assert status == 2 and "--timeout" in err


def test_a_renderer_past_its_timeout_is_stopped(capsys, tmp_path, monkeypatch):
    fake_dot(tmp_path, "cat > /dev/null; sleep 30", monkeypatch)
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", "small.svg", "--timeout", "0.5")
    assert status == 2
    assert "more than 0.5 s" in err and "--max-nodes" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "small.pc"]


def test_a_picture_graphviz_scales_down_is_reported(capsys, tmp_path, monkeypatch):
    fake_dot(tmp_path, "cat > /dev/null; echo 'dot: graph is too large for cairo-renderer bitmaps. "
                       "Scaling by 0.5 to fit' >&2; printf '\\211PNG'", monkeypatch)
    spec = write("small.pc", SMALL)
    status, _, err = pcc(capsys, "graph", spec, "-o", "small.png")
    assert status == 0
    assert err == ("pcc graph: warning: Graphviz scaled the picture down to fit its largest bitmap, "
                   "so its labels may be too small to read: draw fewer nodes (--max-nodes), or write "
                   ".svg or .pdf (graph is too large for cairo-renderer bitmaps. Scaling by 0.5 to fit)\n")
    assert (tmp_path / "small.png").read_bytes() == b"\x89PNG"


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("example", ["mnist", "poon_domingos", "quad_tree", "random_binary_tree"])
def test_examples_render_at_full_scale_by_default(capsys, tmp_path, example):
    # Top to bottom, these were 32767 pixels wide (Graphviz's limit) and scaled down to fit.
    status, _, err = pcc(capsys, "graph", str(ROOT / "examples" / f"{example}.pc"), "-o", "g.png")
    assert status == 0, err
    assert "scaled" not in err
    data = (tmp_path / "g.png").read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width < 32767 and height < 32767
