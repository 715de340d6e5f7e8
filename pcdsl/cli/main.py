"""`pcc`: compile ``.pc`` specs, check them in CI, describe them, and draw pictures of
trained checkpoints.

    pcc FILE.pc -o model.py [--model NAME]   compile one model to a standalone module
    pcc check FILE...                          parse and check structure; exit 0 if all hold
    pcc info FILE [--model NAME] [--json]      layers, folds, parameters, properties
    pcc sample CKPT [-n 64] [--seed S] [-o samples.png]
                                               a grid of exact samples of a checkpoint
    pcc inpaint CKPT [--dataset fashion-mnist|mnist] [--data-root DIR] [--count 8]
                [--masks left,top,centre,first:100] [--seed S] [-o inpaint.png]
                                               complete test images under masks

Checkpoints are written by ``pcdsl.runtime.checkpoint.save_checkpoint``; ``sample`` and
``inpaint`` rebuild the circuit from the module source inside them (no spec needed).
``inpaint`` reads the test split through torchvision without downloading, from
``--data-root`` (default: ``$PCDSL_DATA_ROOT``, else ``./data``).

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
SUBCOMMANDS = ("check", "info", "compile", "sample", "inpaint")
EXIT_CODES_HELP = ("Exit codes: 0 success, 1 diagnostics (errors in a spec), 2 usage or "
                   "unreadable file, checkpoint or data set, 3 internal error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pcc",
        description="Compile probabilistic-circuit specs (.pc) to standalone PyTorch modules.",
        epilog="Run 'pcc COMMAND --help' for a command's options. "
               "'pcc FILE.pc -o model.py' is short for 'pcc compile FILE.pc -o model.py'. "
               + EXIT_CODES_HELP + ".",
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

    sample = commands.add_parser(
        "sample", help="draw a grid of samples from a checkpoint",
        description="Draw exact (ancestral) samples from the circuit in a checkpoint and "
                    "write them as a PNG grid.", epilog=EXIT_CODES_HELP)
    sample.add_argument("checkpoint", metavar="CKPT", help="a checkpoint (save_checkpoint)")
    sample.add_argument("-n", "--count", type=_positive, default=64,
                        help="number of samples (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--nrow", type=_positive, help="images per row (default: a square)")
    sample.add_argument("--scale", type=_positive, default=2,
                        help="pixels per image pixel (default 2)")
    sample.add_argument("-o", "--output", default="samples.png",
                        help="output PNG (default samples.png)")

    inpaint = commands.add_parser(
        "inpaint", help="complete test images under masks, as a picture",
        description="Hide part of some test images (each mask) and complete them with the "
                    "circuit in a checkpoint: rows of originals, masked inputs (unobserved "
                    "pixels red), exact conditional samples and, when the module has "
                    "map_complete, MAP completions.", epilog=EXIT_CODES_HELP)
    inpaint.add_argument("checkpoint", metavar="CKPT", help="a checkpoint (save_checkpoint)")
    inpaint.add_argument("--dataset", choices=("fashion-mnist", "mnist"), default="fashion-mnist",
                         help="the data set whose test split to use (default fashion-mnist)")
    inpaint.add_argument("--data-root", metavar="DIR",
                         help="torchvision's root folder of the data set (default: "
                              "$PCDSL_DATA_ROOT, else ./data); nothing is downloaded")
    inpaint.add_argument("--count", type=_positive, default=8,
                         help="number of test images, chosen at random by --seed (default 8)")
    inpaint.add_argument("--masks", default="left,top,centre,first:100",
                         help="comma-separated masks: left, right, top, bottom (that half "
                              "unobserved), centre (a centred square of half the side), "
                              "first:K (only the first K pixels observed); default "
                              "left,top,centre,first:100")
    inpaint.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    inpaint.add_argument("--scale", type=_positive, default=2,
                         help="pixels per image pixel (default 2)")
    inpaint.add_argument("-o", "--output", default="inpaint.png",
                         help="output PNG (default inpaint.png)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


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


def _error(message: str) -> int:
    print(f"pcc: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _open_checkpoint(path: str):
    """(circuit, None) or (None, exit status) after printing why the checkpoint is unusable."""
    from pcdsl.runtime.checkpoint import CheckpointError, load_checkpoint

    try:
        circuit, _ = load_checkpoint(path)
    except CheckpointError as exc:
        return None, _error(str(exc))
    circuit.eval()
    if getattr(circuit, "image_shape", None) is None:
        return None, _error(f"the model in {path} is not over images (its data has no image "
                            "shape), so it has no pictures to draw.")
    if tuple(circuit.image_shape)[0] not in (1, 3):
        return None, _error(f"the model in {path} has images of {circuit.image_shape[0]} "
                            "channels; pictures need 1 (grey) or 3 (RGB).")
    return circuit, None


def _write_png(path: str, image) -> int:
    from pcdsl.runtime.pictures import save_image

    try:
        save_image(path, image)
    except OSError as exc:
        return _error(f"cannot write {path}: {exc.strerror or exc}")
    print(f"wrote {path} ({image.width}x{image.height})")
    return EXIT_OK


def _run_sample(args: argparse.Namespace) -> int:
    import math

    import torch

    from pcdsl.runtime.pictures import image_grid

    circuit, status = _open_checkpoint(args.checkpoint)
    if circuit is None:
        return status
    generator = torch.Generator().manual_seed(args.seed)
    samples = circuit.sample(args.count, generator=generator)
    nrow = args.nrow or math.ceil(math.sqrt(args.count))
    image = image_grid(samples.view(args.count, *circuit.image_shape), circuit.num_values,
                       nrow, scale=args.scale)
    return _write_png(args.output, image)


def _run_inpaint(args: argparse.Namespace) -> int:
    import torch

    from pcdsl.runtime.pictures import DatasetNotFound, inpainting_grid, load_images, parse_masks

    root = args.data_root or os.environ.get("PCDSL_DATA_ROOT") or "data"
    source = ("--data-root" if args.data_root else
              "PCDSL_DATA_ROOT" if os.environ.get("PCDSL_DATA_ROOT") else "the default")
    try:
        masks = parse_masks(args.masks, (1, 28, 28))  # the images of both data sets
    except ValueError as exc:
        return _error(f"--masks: {exc}.")
    generator = torch.Generator().manual_seed(args.seed)
    try:
        images = load_images(args.dataset, root, count=args.count, generator=generator)
    except DatasetNotFound as exc:
        return _error(
            f"the {args.dataset} test set was not found: torchvision looked in "
            f"{os.path.abspath(exc.folder)} (data root {root}, from {source}) and pcc never "
            "downloads. Point --data-root DIR (or the environment variable PCDSL_DATA_ROOT) "
            f"at the folder that holds {os.path.basename(os.path.dirname(exc.folder))}/raw/, "
            "or download it once with torchvision (download=True).")
    except (OSError, RuntimeError, ValueError, AssertionError) as exc:  # damaged files
        return _error(f"cannot read the {args.dataset} test set under {root}: "
                      f"{type(exc).__name__}: {exc}")
    circuit, status = _open_checkpoint(args.checkpoint)  # after the data: it may be large
    if circuit is None:
        return status
    if tuple(images.shape[1:]) != tuple(circuit.image_shape) or circuit.num_values != 256:
        return _error(f"the model in {args.checkpoint} is over images of "
                      f"{'x'.join(map(str, circuit.image_shape))} with {circuit.num_values} "
                      f"values, but {args.dataset} has "
                      f"{'x'.join(map(str, images.shape[1:]))} images with 256 values.")
    image = inpainting_grid(circuit, images, masks, generator, scale=args.scale)
    return _write_png(args.output, image)


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
        commands = {"compile": _run_compile, "check": _run_check, "info": _run_info,
                    "sample": _run_sample, "inpaint": _run_inpaint}
        return commands[args.command](args)
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
