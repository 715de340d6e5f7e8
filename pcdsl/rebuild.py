"""Open checkpoints as circuits: compile the spec a checkpoint carries, import the module
that compilation produced, load the weights.

This is where the runtime meets the compiler, on purpose. The runtime's file format
(``runtime/checkpoint.py``), training loop, data and pictures never import the parser; a
checkpoint carries no code, so turning one back into a ``Circuit`` needs the driver, and
that step lives here, beside the driver, for the commands and for users::

    from pcdsl.rebuild import load_checkpoint
    circuit, checkpoint = load_checkpoint("runs/mnist/checkpoint.pt")

``spec_record`` makes the record a checkpoint carries from a compiled spec (the text, the
model name and the files it reads); ``module_source`` compiles a record back;
``upgrade_checkpoint`` converts a format-1 checkpoint (which embedded module code) with the
spec it was trained from, reading only its weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pcdsl.diagnostics import CompileError
from pcdsl.driver import CompiledFile, CompiledModel, compile_file, compile_source, emit_python
from pcdsl.files import atomic_write
from pcdsl.runtime.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    SpecRecord,
    load_state,
    read_checkpoint,
)
from pcdsl.runtime.loading import GeneratedModuleError, module_from_source

__all__ = ["load_checkpoint", "module_source", "spec_record", "upgrade_checkpoint"]


def spec_record(compiled: CompiledFile, model: CompiledModel) -> SpecRecord:
    """The record a checkpoint of ``model`` carries: the spec's text and file name, the
    model's name, and every file the spec's models read (read again from the spec's folder
    and checked against the digest the compilation saw)."""
    files: dict[str, str] = {}
    folder = Path(compiled.path).parent
    for each in compiled.models:
        regions = each.spec.regions
        if regions is None or regions.kind != "chow_liu_tree":
            continue
        raw = str(regions["file"])
        data = (folder / raw).read_bytes()
        if hashlib.sha256(data).hexdigest() != each.circuit.region_graph.source_sha256:
            raise CheckpointError(f"the tree file {raw} changed while {compiled.path} was being "
                                  "compiled: run the command again.")
        files[raw] = data.decode("utf-8")
    return SpecRecord(Path(compiled.path).name, compiled.source, model.spec.name, files)


def module_source(record: SpecRecord, origin: str) -> str:
    """Compile a spec record to its generated module's text; a spec that no longer compiles
    (with this compiler) is a one-line ``CheckpointError``."""
    files = {path: text.encode("utf-8") for path, text in record.files.items()}
    try:
        compiled = compile_source(record.source, record.file, files=files)
        return emit_python(compiled, compiled.model(record.model))
    except CompileError as exc:
        first = next((d for d in exc.diagnostics if d.is_error), exc.diagnostics[0])
        where = f" (line {first.span.line}, column {first.span.column})" if first.span else ""
        raise CheckpointError(f"the spec {record.file} embedded in {origin} does not compile with "
                              f"this pcc{where}: {first.message}.") from None
    except RecursionError:
        raise CheckpointError(f"the spec {record.file} embedded in {origin} is nested too deeply "
                              "to compile.") from None


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the circuit saved in ``path``: returns ``(circuit, checkpoint)``.

    The file is read as plain data (``read_checkpoint``); its spec is compiled by this pcc,
    the resulting module imported, ``Circuit(seed=None)`` instantiated (its throw-away
    initial draw leaves torch's global random state alone) and the weights loaded strictly.
    Nothing in the file is ever executed. With ``map_location`` a device (``str`` or
    ``torch.device``) the circuit is moved there. Raises ``CheckpointError`` (one sentence)
    for a missing or damaged file, a format-1 file, a spec that does not compile and weights
    that do not fit."""
    path = Path(path)
    checkpoint = read_checkpoint(path, map_location)
    record = SpecRecord.from_data(checkpoint["spec"], str(path))
    source = module_source(record, str(path))
    try:
        module = module_from_source(source, origin=f"{record.file} in {path}")
    except GeneratedModuleError as exc:  # the compiler's own output failed: a bug
        raise RuntimeError(str(exc)) from exc
    if module.SPEC_SHA256 != checkpoint["spec_sha256"]:
        raise CheckpointError(f"{path} is inconsistent: its spec compiles to spec hash "
                              f"{module.SPEC_SHA256}, not {checkpoint['spec_sha256']}.")
    with torch.random.fork_rng(devices=[]):
        circuit = module.Circuit(seed=None)
    try:
        load_state(circuit, checkpoint["state_dict"], path)
    except CheckpointError as exc:
        saved = checkpoint.get("compiler_version")
        if saved != module.COMPILER_VERSION:
            raise CheckpointError(f"{exc} It was written by pcc {saved}; this is pcc "
                                  f"{module.COMPILER_VERSION}.") from None
        raise
    if isinstance(map_location, (str, torch.device)):
        circuit = circuit.to(map_location)
    return circuit, checkpoint


def upgrade_checkpoint(old: str | os.PathLike, spec: str, output: str | os.PathLike,
                       model: str | None = None) -> dict:
    """Convert a format-1 checkpoint to the current format with the spec it was trained
    from. Reads the old file with ``weights_only=True`` and never looks at its embedded
    module code; the spec must be the very text the weights were trained on (same
    ``spec_sha256``). Writes ``output`` atomically, never over ``old``; returns the new
    checkpoint. ``CompileError`` for a spec that does not compile; ``CheckpointError``
    otherwise."""
    old, output = Path(old), Path(output)
    if output.exists() and old.exists() and os.path.samefile(old, output):
        raise CheckpointError(f"the output {output} is the checkpoint being converted: "
                              "write the converted one to another file.")
    checkpoint = read_checkpoint(old, "cpu", legacy=True)
    if checkpoint["format_version"] == FORMAT_VERSION:
        raise CheckpointError(f"{old} is already a format-{FORMAT_VERSION} checkpoint.")
    compiled = compile_file(spec)
    chosen = compiled.model(model or checkpoint["model_name"])
    if compiled.sha256 != checkpoint["spec_sha256"]:
        raise CheckpointError(
            f"{spec} has spec hash {compiled.sha256}, but {old} was trained on a spec with hash "
            f"{checkpoint['spec_sha256']}: pass the exact spec file it was trained from.")
    record = spec_record(compiled, chosen)
    module = module_from_source(emit_python(compiled, chosen), origin=spec)
    with torch.random.fork_rng(devices=[]):
        circuit = module.Circuit(seed=None)
    load_state(circuit, checkpoint["state_dict"], old)  # the weights fit the rebuilt module
    upgraded = {key: value for key, value in checkpoint.items() if key != "module_source"}
    upgraded.update(format_version=FORMAT_VERSION, spec=record.as_data(),
                    model_name=chosen.spec.name, compiler_version=module.COMPILER_VERSION)
    atomic_write(output, lambda handle: torch.save(upgraded, handle))
    return upgraded
