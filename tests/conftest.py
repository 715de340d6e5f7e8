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

# A tiny spec for runtime and CLI tests: 16 variables, 4 values, 2 units.
TINY_SPEC = """\
model m {
  data = image(height = 4, width = 4, values = 4)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
"""
