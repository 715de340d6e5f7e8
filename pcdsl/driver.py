"""The thin driver: run the stages in order on one file, collecting diagnostics.

Frontend (parse, check) -> lower -> structure passes -> fold -> codegen. Each stage is
a pure function; the driver only threads results and stops at the first stage that
reports errors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pcdsl.diagnostics import CompileError, Diagnostic, error
from pcdsl.files import write_text_atomically
from pcdsl.ir.circuit import Circuit
from pcdsl.ir.lower import lower_model
from pcdsl.passes.fold import FoldedCircuit, fold_layers
from pcdsl.passes.structure import StructureReport, analyze_structure
from pcdsl.syntax.check import check_file
from pcdsl.syntax.parser import parse_source
from pcdsl.syntax.typed import ModelSpec


@dataclass(frozen=True)
class CompiledModel:
    spec: ModelSpec
    circuit: Circuit
    report: StructureReport
    folded: FoldedCircuit


@dataclass(frozen=True)
class CompiledFile:
    path: str
    source: str
    sha256: str
    models: tuple[CompiledModel, ...]
    warnings: tuple[Diagnostic, ...]

    def model(self, name: str | None) -> CompiledModel:
        if name is None:
            if len(self.models) != 1:
                names = ", ".join(m.spec.name for m in self.models)
                raise CompileError([error(
                    "usage", f"{self.path} declares {len(self.models)} models ({names})", None,
                    "choose one with --model NAME")])
            return self.models[0]
        for m in self.models:
            if m.spec.name == name:
                return m
        from pcdsl.diagnostics import did_you_mean
        raise CompileError([error("usage", f"{self.path} declares no model '{name}'", None,
                                  did_you_mean(name, [m.spec.name for m in self.models]))])


def read_spec(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CompileError([error("io", f"cannot read {path}: {reason}", None)]) from None


def compile_source(source: str, path: str, *, fold: bool = True,
                   require_valid: bool = True) -> CompiledFile:
    """Run every stage on ``source``. With ``require_valid``, structure violations
    (non-smooth, non-decomposable) raise ``CompileError``; otherwise they are reported
    in each model's ``report``."""
    ast_file = parse_source(source, path)
    specs, warnings = check_file(ast_file)
    models = []
    errors: list[Diagnostic] = []
    for spec in specs:
        try:
            circuit = lower_model(spec)
        except CompileError as exc:
            errors.extend(exc.diagnostics)
            continue
        report = analyze_structure(circuit)
        if require_valid and report.errors:
            errors.extend(report.errors)
            continue
        folded = fold_layers(circuit) if fold else None
        models.append(CompiledModel(spec, circuit, report, folded))  # type: ignore[arg-type]
    if errors:
        raise CompileError(errors + list(warnings))
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    return CompiledFile(path, source, digest, tuple(models), tuple(warnings))


def compile_file(path: str, **kwargs) -> CompiledFile:
    return compile_source(read_spec(path), path, **kwargs)


def emit_python(compiled: CompiledFile, model: CompiledModel) -> str:
    from pcdsl.codegen import generate_module

    return generate_module(model.folded, model.report, spec_file=compiled.path,
                           spec_sha256=compiled.sha256)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename,
    so readers never see a half-written file."""
    write_text_atomically(path, text)
