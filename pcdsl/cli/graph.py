"""`pcc graph FILE -o out.{dot,svg,png,pdf} [--model NAME] [--layers] [--max-nodes N]`: the
region graph of a model (or, with ``--layers``, its folded layer graph) as a picture.

The DOT text comes from ``pcdsl.codegen.dot``; SVG, PNG and PDF are rendered by Graphviz's
``dot`` program when it is on PATH. The output is written atomically, so a failed or
interrupted render never leaves a half-written file. Models that are not smooth or not
decomposable are drawn too: the picture is often how one finds out why.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from pcdsl.cli.common import EXIT_OK, compile_failure, error, non_negative, seconds, write_output
from pcdsl.diagnostics import CompileError

RENDERED = ("svg", "png", "pdf")  # formats Graphviz renders
FORMATS = ("dot", "gv") + RENDERED
DEFAULT_MAX_NODES = 1000  # Graphviz lays out a thousand nodes in seconds; MNIST has 3,500
INSTALL_HINT = ("install Graphviz (apt-get install graphviz, brew install graphviz) or "
                "write DOT text instead: -o FILE.dot")


def register(commands: argparse._SubParsersAction) -> None:
    graph = commands.add_parser(
        "graph", help="draw the region graph (or the folded layers) of a model",
        description="Draw a model's region graph: regions as boxes labelled with their "
                    "scope, partitions as product nodes. The format follows the output's "
                    "suffix: .dot (DOT text), .svg, .png or .pdf (rendered by Graphviz).")
    graph.add_argument("file", help="the .pc spec")
    graph.add_argument("-o", "--output", required=True,
                       help="output file (.dot, .svg, .png, .pdf), or '-' for DOT on "
                            "standard output")
    graph.add_argument("--model", help="the model to draw, when the file holds several")
    graph.add_argument("--layers", action="store_true",
                       help="draw the folded layer graph (kind, members, units per fold)")
    graph.add_argument("--max-nodes", type=non_negative, default=DEFAULT_MAX_NODES, metavar="N",
                       help=f"draw at most N nodes (regions and partitions, or folds), nearest the "
                            f"root (default {DEFAULT_MAX_NODES}; 0 for all)")
    graph.add_argument("--timeout", type=seconds, default=300.0, metavar="SECONDS",
                       help="give up rendering after this long (default 300)")
    graph.set_defaults(run=run)


def output_format(path: str) -> str | None:
    """The format named by the output's suffix (``-`` is DOT), or None when unknown."""
    if path == "-":
        return "dot"
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    return suffix if suffix in FORMATS else None


def render(dot_text: str, fmt: str, timeout: float) -> bytes:
    """Run Graphviz's ``dot``; raises ``RuntimeError`` with a one-line reason on failure."""
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(f"rendering .{fmt} needs Graphviz's 'dot' on PATH: {INSTALL_HINT}")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz took more than {timeout:g} s; draw fewer nodes "
                           "(--max-nodes) or write .dot") from None
    except OSError as exc:
        raise RuntimeError(f"cannot run {program}: {exc.strerror or exc}") from None
    said = done.stderr.decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"Graphviz failed: {said[0] if said else f'exit {done.returncode}'}")
    if any("scaling" in line.lower() for line in said):
        # e.g. "graph is too large for cairo-renderer bitmaps. Scaling by 0.53 to fit"
        print(f"pcc graph: warning: Graphviz scaled the picture down to fit its largest "
              f"bitmap, so its labels may be too small to read: draw fewer nodes "
              f"(--max-nodes), or write .svg or .pdf ({said[0].removeprefix('dot: ')})",
              file=sys.stderr)
    return done.stdout


def dot_for(args: argparse.Namespace) -> tuple[str, int, int]:
    """The DOT text to draw, and how many nodes it shows of how many; raises CompileError."""
    from pcdsl.codegen.dot import layer_graph_dot, region_graph_dot, select
    from pcdsl.driver import compile_file

    compiled = compile_file(args.file, fold=args.layers, require_valid=False)
    model = compiled.model(args.model)
    circuit = model.circuit
    limit = args.max_nodes or None
    if args.layers:
        folds = len(model.folded.folds)
        text = layer_graph_dot(model.folded, title=f"{circuit.name}: layers", max_nodes=limit)
        return text, min(folds, limit or folds), folds
    graph = circuit.region_graph
    chosen = select(graph, limit)
    text = region_graph_dot(graph, title=circuit.name, image_shape=circuit.image_shape,
                            max_nodes=limit)
    return (text, len(chosen.regions) + len(chosen.partitions),
            len(graph.regions) + len(graph.partitions))


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.output)
    if fmt is None:
        return error(f"cannot tell the format of {args.output}: use a .dot, .svg, .png or "
                     ".pdf file, or '-' for DOT on standard output")
    if fmt in RENDERED and shutil.which("dot") is None:
        # Said before compiling, so the fix comes at once.
        return error(f"rendering .{fmt} needs Graphviz's 'dot' on PATH: {INSTALL_HINT}")
    try:
        text, shown, total = dot_for(args)
    except CompileError as exc:
        return compile_failure(exc, args.file)
    if shown < total:
        print(f"pcc graph: drawing {shown} of {total} nodes, nearest the root "
              "(--max-nodes 0 draws all)", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        data = render(text, fmt, args.timeout) if fmt in RENDERED else text.encode("utf-8")
    except RuntimeError as exc:
        return error(str(exc))
    return write_output(args.output, data, inputs=[args.file])
