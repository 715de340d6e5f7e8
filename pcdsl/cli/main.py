"""`pcc`: compile ``.pc`` specs, check them in CI, and describe them.

    pcc FILE.pc -o model.py [--model NAME]   compile one model to a standalone module
    pcc check FILE...                          parse and check structure; exit 0 if all hold
    pcc info FILE [--model NAME] [--json]      layers, folds, parameters, properties

Exit codes: 0 success, 1 diagnostics (errors in a spec), 2 usage or unreadable file,
3 internal error (a bug in pcc: please report it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from pcdsl import __version__
from pcdsl.diagnostics import CompileError, Diagnostic, Severity, render

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
SUBCOMMANDS = ("check", "info", "compile")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pcc",
        description="Compile probabilistic-circuit specs (.pc) to standalone PyTorch modules.",
        epilog="Run 'pcc COMMAND --help' for a command's options. "
               "'pcc FILE.pc -o model.py' is short for 'pcc compile FILE.pc -o model.py'.",
    )
    parser.add_argument("--version", action="version", version=f"pcc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    compile_ = commands.add_parser("compile", help="compile a model to a Python module")
    compile_.add_argument("file", help="the .pc spec")
    compile_.add_argument("-o", "--output", help="output .py file (default: the spec's name "
                          "with .py, in the current folder; '-' for standard output)")
    compile_.add_argument("--model", help="the model to compile, when the file holds several")

    check = commands.add_parser("check", help="check specs: syntax, names, types, structure")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="diagnostics as text (default) or a JSON list")

    info = commands.add_parser("info", help="describe a compiled model")
    info.add_argument("file")
    info.add_argument("--model", help="the model to describe, when the file holds several")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str],
                       stream: TextIO) -> None:
    for diagnostic in diagnostics:
        print(render(diagnostic, sources), file=stream)


def _sources_for(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return {path: handle.read()}
    except (OSError, UnicodeDecodeError):
        return {}


def _is_io_failure(exc: CompileError) -> bool:
    return any(d.code in ("io", "usage") for d in exc.diagnostics)


def _run_compile(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file, emit_python, write_atomically

    try:
        compiled = compile_file(args.file)
        model = compiled.model(args.model)
        text = emit_python(compiled, model)
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics, _sources_for(args.file), sys.stderr)
        return EXIT_USAGE if _is_io_failure(exc) else EXIT_DIAGNOSTICS
    _print_diagnostics(compiled.warnings, {compiled.path: compiled.source}, sys.stderr)
    output = args.output or os.path.splitext(os.path.basename(args.file))[0] + ".py"
    if output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        write_atomically(output, text)
    except OSError as exc:
        print(f"pcc: error: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _diagnostic_json(d: Diagnostic) -> dict:
    span = d.span
    return {
        "file": span.file if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "end_line": span.end_line if span else None,
        "end_column": span.end_column if span else None,
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
        "notes": [{"message": message,
                   "line": note_span.line if note_span else None,
                   "column": note_span.column if note_span else None}
                  for message, note_span in d.notes],
    }


def _run_check(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file

    status = EXIT_OK
    collected: list[Diagnostic] = []
    for path in args.files:
        sources = _sources_for(path)
        try:
            compiled = compile_file(path, fold=False)
        except CompileError as exc:
            found = list(exc.diagnostics)
            status = max(status, EXIT_USAGE if _is_io_failure(exc) else EXIT_DIAGNOSTICS)
        else:
            found = list(compiled.warnings)
        collected.extend(found)
        if args.format == "text":
            _print_diagnostics(found, sources, sys.stderr)
            errors = sum(1 for d in found if d.severity is Severity.ERROR)
            verdict = "ok" if errors == 0 else f"{errors} error{'s' if errors != 1 else ''}"
            print(f"{path}: {verdict}")
    if args.format == "json":
        print(json.dumps([_diagnostic_json(d) for d in collected], indent=2))
    return status


def describe(compiled, model) -> dict:
    """The facts `pcc info` reports about one compiled model."""
    circuit, folded, report = model.circuit, model.folded, model.report
    layer_counts = Counter(layer.kind.value for layer in circuit.layers)
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


def _run_info(args: argparse.Namespace) -> int:
    from pcdsl.driver import compile_file

    try:
        compiled = compile_file(args.file, require_valid=False)
        model = compiled.model(args.model)
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics, _sources_for(args.file), sys.stderr)
        return EXIT_USAGE if _is_io_failure(exc) else EXIT_DIAGNOSTICS
    facts = describe(compiled, model)
    if args.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    yes_no = {True: "yes", False: "no"}
    print(f"model {facts['model']} ({facts['file']})")
    for key in ("data", "region_graph", "inputs", "layers", "weights"):
        print(f"  {key + ':':<14}{facts[key]}")
    print(f"  {'variables:':<14}{facts['num_variables']} with {facts['num_values']} values")
    print(f"  {'parameters:':<14}{facts['num_parameters']:,}")
    counts = ", ".join(f"{n} {kind}" for kind, n in facts["layer_counts"].items())
    print(f"  {'circuit:':<14}{facts['num_layers']} layers ({counts})")
    print(f"  {'folds:':<14}{facts['num_folds']}, depth {facts['depth']}")
    print(f"  {'smooth:':<14}{yes_no[facts['is_smooth']]}")
    print(f"  {'decomposable:':<14}{yes_no[facts['is_decomposable']]}")
    structured = yes_no[facts["is_structured_decomposable"]]
    if model.report.structured_decomposable:
        structured += f" ({model.report.structured_decomposable[0].message})"
    print(f"  {'structured:':<14}{structured}")
    print("  folds:")
    for f in facts["folds"]:
        shape = "x".join(map(str, f["parameter_shape"])) if f["parameter_shape"] else "-"
        print(f"    {f['id']:>3}  depth {f['depth']:>3}  {f['kind']:<12} {f['size']:>5} x "
              f"{f['units']:>4} units  arity {f['arity']}  params {shape:<14} reads {f['reads']}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "compile")
    elif argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "compile")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return {"compile": _run_compile, "check": _run_check, "info": _run_info}[args.command](args)
    except KeyboardInterrupt:
        return 130
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


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
