"""`pcc upgrade-checkpoint` and `pcc export`: convert checkpoints, never running their code.

    pcc upgrade-checkpoint OLD.pt --spec SPEC.pc -o NEW.pt   format 1 (module code inside)
                                                             to format 2 (the spec inside)
    pcc export CKPT -o weights.safetensors                   the weights alone, for any tool
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pcdsl.cli.common import EXIT_CODES_HELP, EXIT_OK, compile_failure, error
from pcdsl.diagnostics import CompileError


def register(commands: argparse._SubParsersAction) -> None:
    upgrade = commands.add_parser(
        "upgrade-checkpoint", help="convert a format-1 checkpoint (module code inside) to the "
        "current format (the spec inside)",
        description="Read a format-1 checkpoint's weights (torch.load with weights_only=True; "
                    "its embedded module code is never run), check that SPEC is the spec they "
                    "were trained on (same spec hash), and write a current checkpoint that "
                    "carries the spec instead of code.", epilog=EXIT_CODES_HELP)
    upgrade.add_argument("checkpoint", metavar="OLD", help="the format-1 checkpoint")
    upgrade.add_argument("--spec", required=True, help="the .pc spec it was trained from")
    upgrade.add_argument("--model", help="the model, when the spec holds several")
    upgrade.add_argument("-o", "--output", required=True, metavar="NEW",
                         help="the converted checkpoint (never the old file; an existing file "
                              "is refused unless --force)")
    upgrade.add_argument("--force", action="store_true", help="replace an existing NEW")
    upgrade.set_defaults(run=run_upgrade)

    export = commands.add_parser(
        "export", help="write a checkpoint's weights as a .safetensors file",
        description="Write the weights of a checkpoint as safetensors (tensors and string "
                    "metadata only: model, spec hash, compiler version, epoch).",
        epilog=EXIT_CODES_HELP)
    export.add_argument("checkpoint", metavar="CKPT")
    export.add_argument("-o", "--output", required=True, metavar="FILE.safetensors")
    export.add_argument("--force", action="store_true", help="replace an existing output")
    export.set_defaults(run=run_export)


def _refuse_existing(output: str, force: bool, source: str) -> str | None:
    if Path(output).exists() and Path(source).exists() and os.path.samefile(output, source):
        return f"-o {output} is the checkpoint being read: write to another file"
    if Path(output).is_dir():
        return f"-o {output} is a folder: name a file"
    if Path(output).exists() and not force:
        return f"-o {output} exists: add --force to replace it, or choose another name"
    return None


def run_upgrade(args: argparse.Namespace) -> int:
    from pcdsl.rebuild import upgrade_checkpoint
    from pcdsl.runtime.checkpoint import CheckpointError

    refusal = _refuse_existing(args.output, args.force, args.checkpoint)
    if refusal:
        return error(refusal)
    try:
        upgraded = upgrade_checkpoint(args.checkpoint, args.spec, args.output, args.model)
    except CompileError as exc:
        return compile_failure(exc, args.spec)
    except CheckpointError as exc:
        return error(str(exc))
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror or exc}")
    print(f"wrote {args.output} (model {upgraded['model_name']}, epoch {upgraded.get('epoch')}; "
          "the spec inside, no code)")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from pcdsl.files import atomic_write
    from pcdsl.runtime.checkpoint import CheckpointError, read_checkpoint

    if not args.output.endswith(".safetensors"):
        return error(f"-o {args.output}: expected a file name ending in .safetensors")
    refusal = _refuse_existing(args.output, args.force, args.checkpoint)
    if refusal:
        return error(refusal)
    try:
        checkpoint = read_checkpoint(args.checkpoint)
    except CheckpointError as exc:
        return error(str(exc))
    from safetensors.torch import save

    metadata = {"format": "pcdsl-weights", "model_name": checkpoint["model_name"],
                "spec_sha256": checkpoint["spec_sha256"],
                "compiler_version": str(checkpoint.get("compiler_version")),
                "epoch": str(checkpoint.get("epoch"))}
    tensors = {name: value.contiguous() for name, value in checkpoint["state_dict"].items()}
    try:
        data = save(tensors, metadata=metadata)
        atomic_write(args.output, lambda handle: handle.write(data))
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror or exc}")
    print(f"wrote {args.output} ({len(tensors)} tensors, {len(data):,} bytes)")
    return EXIT_OK
