"""Shared fixtures: compile a spec given as text and import the generated module."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pcdsl.driver import compile_source, emit_python
from pcdsl.runtime.loading import load_generated

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def build_module(tmp_path):
    """``build_module(source, model=None)`` -> the imported generated module."""
    counter = itertools.count()

    def build(source: str, model: str | None = None, name: str = "spec.pc"):
        compiled = compile_source(source, name)
        text = emit_python(compiled, compiled.model(model))
        path = tmp_path / f"generated_{next(counter)}.py"
        path.write_text(text)
        return load_generated(path)

    return build
