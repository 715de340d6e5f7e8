"""`pcc`: compile ``.pc`` specs, check them in CI, describe them, train them, and draw
pictures of trained checkpoints. Each command lives in its own module of this package
(``compile`` and ``info`` here); ``main`` only dispatches.

    pcc FILE.pc -o model.py [--model NAME]   compile one model to a standalone module
    pcc check FILE...                          parse and check structure; exit 0 if all hold
    pcc info FILE [--model NAME] [--json]      layers, folds, parameters, properties
    pcc train FILE.pc --dataset fashion-mnist  train, evaluate, checkpoint (pcc train --help)
    pcc eval CKPT --dataset fashion-mnist      test log-likelihood and bits per dimension
    pcc fmt FILE... [--check]                  format specs in the canonical layout
    pcc lsp                                    a language server over stdio
    pcc graph FILE -o out.svg                  the region graph as a picture
    pcc sample CKPT / pcc inpaint CKPT         pictures of a trained checkpoint

Exit codes: 0 success, 1 diagnostics (errors in a spec), 2 usage, an unreadable file,
checkpoint or data set, or an output that may not be written, 3 internal error (a bug in
pcc: please report it), 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
from collections.abc import Sequence

from pcdsl import __version__
from pcdsl.cli.common import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    compile_failure,
    error,
    print_diagnostics,
    write_output,
)
from pcdsl.diagnostics import CompileError, closest

# The commands defined here, and those of the modules of this package that each add theirs
# to the parser (``register``, with a ``run`` default), in the order `pcc --help` lists them.
# A command's module is imported, and its arguments defined, only when it runs or the list
# is shown: importing and registering every one took 20 ms of compiling the MNIST example.
OWN_COMMANDS = ("compile", "info")
COMMAND_MODULES = {
    "check": "check", "train": "train", "eval": "train", "learn": "learn", "fmt": "fmt",
    "lsp": "lsp", "graph": "graph", "sample": "pictures", "inpaint": "pictures",
    "upgrade-checkpoint": "checkpoints", "export": "checkpoints",
}
COMMANDS = OWN_COMMANDS + tuple(COMMAND_MODULES)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `pcc`'s arguments: with ``command``, of that command alone (what parsing
    its arguments needs); without, of every command (`pcc --help`)."""
    parser = Parser(
        prog="pcc",
        description="Compile probabilistic-circuit specs (.pc) to standalone PyTorch modules.",
        epilog="Run 'pcc COMMAND --help' for a command's options. "
               "'pcc FILE.pc -o model.py' is short for 'pcc compile FILE.pc -o model.py'. "
               + EXIT_CODES_HELP + ".",
    )
    parser.add_argument("--version", action="version", version=f"pcc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    compile_ = commands.add_parser("compile", help="compile a model to a Python module")
    compile_.add_argument("file", help="the .pc spec")
    compile_.add_argument("-o", "--output", help="output .py file (default: the spec's name "
                          "with .py, in the current folder; '-' for standard output)")
    compile_.add_argument("--model", help="the model to compile, when the file holds several")
    compile_.set_defaults(run=_run_compile)

    info = commands.add_parser("info", help="describe a compiled model")
    info.add_argument("file")
    info.add_argument("--model", help="the model to describe, when the file holds several")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=_run_info)
    if command in OWN_COMMANDS:
        modules: list[str] = []
    elif command in COMMAND_MODULES:
        modules = [COMMAND_MODULES[command]]
    else:
        modules = list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(commands)
    return parser


def _run_compile(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file, emit_python

    try:
        compiled = compile_file(args.file)
        model = compiled.model(args.model)
        text = emit_python(compiled, model)
    except CompileError as exc:
        return compile_failure(exc, args.file)
    print_diagnostics(compiled.warnings, {compiled.path: compiled.source}, sys.stderr)
    output = args.output or os.path.splitext(os.path.basename(args.file))[0] + ".py"
    if output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    return write_output(output, text.encode("utf-8"), inputs=[args.file])


def describe(compiled, model) -> dict:
    """The facts `pcc info` reports about one compiled model."""
    circuit, folded, report = model.circuit, model.folded, model.report
    layer_counts = {kind.value: n for kind, n in circuit.kind_counts().items()}
    return {
        "model": circuit.name,
        "file": compiled.path,
        "spec_sha256": compiled.sha256,
        "compiler_version": __version__,
        "data": model.spec.data.source(),
        "region_graph": (model.spec.regions.source() if model.spec.regions is not None
                         else "structure"),
        "inputs": model.spec.inputs.source(),
        "layers": model.spec.layers.source(),
        "weights": model.spec.weights.source(),
        "dense_weights": model.spec.sum_weights("dense").source(),
        "mixing_weights": model.spec.sum_weights("mixing").source(),
        "domain": circuit.domain,
        # A squared model is normalised by its Z, whatever the base's weights.
        "is_normalised": circuit.is_normalised or model.algebra is not None,
        "algebra": _algebra_facts(model),
        # A mixture's region graph and layers are its components', each its own.
        "mixture": list(model.mixture) or None,
        "region_graph_sha256": circuit.region_graph.source_sha256,
        "num_variables": circuit.num_variables,
        "num_values": circuit.num_values,
        "image_shape": list(circuit.image_shape) if circuit.image_shape else None,
        "num_classes": circuit.num_classes,
        "num_parameters": circuit.num_parameters,
        "num_layers": len(circuit.layers),
        "layer_counts": dict(sorted(layer_counts.items())),
        "num_regions": len(circuit.region_graph.regions),
        "num_partitions": len(circuit.region_graph.partitions),
        "num_folds": len(folded.folds),
        "depth": folded.depth,
        "folds": [
            {"id": f.id, "kind": f.kind.value, "depth": f.depth, "size": f.size,
             "units": f.num_units, "input_units": f.input_units, "arity": f.arity,
             "parameter_shape": list(f.weight_shape) if f.weight_shape else None,
             "reads": ("view" if f.gather is not None and f.gather.slice_start is not None
                       else "gather" if f.gather is not None else "data")}
            for f in folded.folds
        ],
        "is_smooth": report.is_smooth,
        "is_decomposable": report.is_decomposable,
        "is_structured_decomposable": report.is_structured_decomposable,
    }


def _algebra_facts(model) -> dict | None:
    """How a model made by an operation (``square(base)``) is made, and the size of the pass
    that normalises it; None for a model declared with a body."""
    if model.algebra is None:
        return None
    from pcdsl.codegen.squared import fold_gram_plan

    plan = model.algebra.plan
    return {
        "operation": model.algebra.operation,
        "operands": list(model.algebra.operands),
        "num_gram_nodes": len(plan.nodes),
        "num_gram_steps": len(fold_gram_plan(plan, model.folded)) if model.folded else None,
        "largest_gram": [max(n.rows for n in plan.nodes), max(n.columns for n in plan.nodes)],
    }


def _run_info(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file

    try:
        compiled = compile_file(args.file, require_valid=False)
        model = compiled.model(args.model)
    except CompileError as exc:
        return compile_failure(exc, args.file)
    facts = describe(compiled, model)
    if args.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    yes_no = {True: "yes", False: "no"}
    print(f"model {facts['model']} ({facts['file']})")
    algebra = facts["algebra"]
    if algebra is not None:
        print(f"  {'algebra:':<16}{algebra['operation']}({', '.join(algebra['operands'])}), Z from "
              f"{algebra['num_gram_nodes']:,} Gram matrices in {algebra['num_gram_steps']} steps")
    if facts["mixture"]:
        print(f"  {'mixture:':<16}mixture({', '.join(facts['mixture'])}): one mixing sum over "
              "their outputs")
    shown = ("data",) if facts["mixture"] else ("data", "region_graph", "inputs", "layers",
                                                 "dense_weights", "mixing_weights")
    for key in shown:
        print(f"  {key + ':':<16}{facts[key]}")
    print(f"  {'variables:':<16}{facts['num_variables']} with {facts['num_values']} values")
    print(f"  {'parameters:':<16}{facts['num_parameters']:,}")
    counts = ", ".join(f"{n} {kind}" for kind, n in facts["layer_counts"].items())
    print(f"  {'circuit:':<16}{facts['num_layers']} layers ({counts})")
    print(f"  {'folds:':<16}{facts['num_folds']}, depth {facts['depth']}")
    print(f"  {'smooth:':<16}{yes_no[facts['is_smooth']]}")
    print(f"  {'decomposable:':<16}{yes_no[facts['is_decomposable']]}")
    print(f"  {'normalised:':<16}{yes_no[facts['is_normalised']]}")
    structured = yes_no[facts["is_structured_decomposable"]]
    if model.report.structured_decomposable:
        structured += f" ({model.report.structured_decomposable[0].message})"
    print(f"  {'structured:':<16}{structured}")
    print("  fold details:")
    for f in facts["folds"]:
        shape = "x".join(map(str, f["parameter_shape"])) if f["parameter_shape"] else "-"
        print(f"    {f['id']:>3}  depth {f['depth']:>3}  {f['kind']:<12} {f['size']:>5} x "
              f"{f['units']:>4} units  arity {f['arity']}  params {shape:<16} reads {f['reads']}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        unknown = unknown_command(argv, COMMANDS)
        if unknown is not None:
            _parser().print_usage(sys.stderr)
            return error(unknown)
        argv.insert(0, "compile")
    elif argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        if closest(argv[0].split("=", 1)[0], ("--help", "--version")):  # e.g. --verison
            parser = _parser()
            parser.error(parser.unrecognized(argv[:1]))
        argv.insert(0, "compile")
    parser = _parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `pcc info ... | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug in pcc: say so plainly, keep the traceback for debugging
        if os.environ.get("PCDSL_DEBUG"):
            raise
        print(f"pcc: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in pcc; set PCDSL_DEBUG=1 to see the traceback.", file=sys.stderr)
        return EXIT_INTERNAL


def unknown_command(argv: list[str], names: Sequence[str]) -> str | None:
    """Why ``argv[0]``, neither a command nor an existing file, is not read as a spec to
    compile (``pcc FILE.pc``): it is followed by another argument that is not a flag (so a
    command was meant), or it is a near miss of a command name. None when it may be a file."""
    first = argv[0]
    if os.path.exists(first) or "." in first or os.sep in first:  # a file's name, e.g. chek.pc
        return None
    commands = ", ".join(sorted(names))
    best = closest(first, names)
    if any(not a.startswith("-") for a in argv[1:2]):
        suggestion = f"did you mean '{best}'?" if best else f"the commands are: {commands}"
        return f"unknown command '{first}', {suggestion}"
    if best is not None:
        return f"unknown command or file '{first}', did you mean '{best}'?"
    return None


def entry() -> None:
    """The ``pcc`` console script: ``main``, then exit with its code."""
    # Python's cyclic collector runs after every 700 net allocations by default: many times
    # while a command imports its modules and compiles a spec (dataclasses, parse trees, the
    # IR), 11 ms of compiling the MNIST example (measured side by side). Reference counting
    # frees what a command makes and cycles are rare, so here it runs a hundred times less
    # often (the same for the long commands, whose allocations are tensors). Set here, not
    # on import, so that a program that imports pcdsl keeps its own settings.
    gc.set_threshold(100_000, 50, 100)
    code = main()
    # At exit the interpreter runs full collections over every object still alive (the
    # modules, a compiled IR): 65 ms of compiling the MNIST example, measured side by side.
    # What is left is freed at exit anyway, so it is moved out of the collector's sight;
    # cleanup handlers and finalisers still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
