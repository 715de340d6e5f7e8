"""The templates shipped compiled by Jinja (pcdsl/codegen/precompiled/) against the
templates themselves: current, used, and rendering exactly what the template renders."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from pcdsl.codegen import emit
from pcdsl.driver import compile_file, compile_source, emit_python

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_NAMES = sorted(p.name for p in emit.TEMPLATES.glob("*.j2"))
EXAMPLES = sorted((ROOT / "examples").glob("*.pc"))


def shipped_path(name: str) -> Path:
    module = emit.precompiled_module_name(name).rsplit(".", 1)[-1]
    return Path(emit.__file__).with_name("precompiled") / f"{module}.py"


def shipped_jinja_version(name: str) -> str:
    text = shipped_path(name).read_text(encoding="utf-8")
    return text.split("JINJA_VERSION = '", 1)[1].split("'", 1)[0]


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_ships_compiled_and_current(name):
    # Fails after a template edit until `python scripts/regenerate.py` is run; until then
    # codegen compiles the template itself (slower, same text).
    assert f"TEMPLATE_SHA256 = {emit.template_sha256(name)!r}" in shipped_path(name).read_text()
    if shipped_jinja_version(name) == jinja2.__version__:
        assert shipped_path(name).read_text(encoding="utf-8") == emit.precompiled_source(name)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_the_shipped_compilation_is_used_with_its_jinja_version(name):
    used = Path(emit.template(name).filename).resolve()
    if shipped_jinja_version(name) == jinja2.__version__:
        assert used == shipped_path(name).resolve()
    else:
        assert used == (emit.TEMPLATES / name).resolve()


# The algebra's template (squared.py.j2) renders for square and multiply models.
ALGEBRA = """
model base {
  data    = image(channels = 1, height = 2, width = 2, values = 3)
  regions = quad_tree(splits = 4)
  inputs  = categorical(units = 3)
  layers  = cp(units = 4)
  weights = none(init = normal(mean = 0.0, std = 0.7))
}
model other {
  data    = image(channels = 1, height = 2, width = 2, values = 3)
  regions = quad_tree(splits = 4)
  inputs  = categorical(units = 2)
  layers  = cp(units = 3)
  seed    = 7
}
model squared = square(base)
model product = multiply(other, other)
"""


def _modules(paths):
    texts = []
    for path in paths:
        compiled = compile_file(str(path))
        texts.extend(emit_python(compiled, m) for m in compiled.models)
    compiled = compile_source(ALGEBRA, "algebra.pc")
    texts.extend(emit_python(compiled, m) for m in compiled.models)
    assert sum("Gram" in text for text in texts) >= 2  # the algebra's template was rendered
    return texts


def test_the_shipped_compilation_renders_what_the_template_renders(monkeypatch):
    assert len(EXAMPLES) > 10
    shipped = _modules(EXAMPLES)
    emit.template.cache_clear()
    # As if the shipped modules were stale: every template compiled from its text.
    monkeypatch.setattr(emit, "template_sha256", lambda name: "0" * 64)
    try:
        assert emit.template("circuit.py.j2").filename.endswith("circuit.py.j2")
        assert _modules(EXAMPLES) == shipped
    finally:
        emit.template.cache_clear()


def test_a_shipped_compilation_from_another_jinja_is_not_used(monkeypatch):
    emit.template.cache_clear()
    monkeypatch.setattr(jinja2, "__version__", "0.0.0")
    try:
        assert emit.template("circuit.py.j2").filename.endswith("circuit.py.j2")
    finally:
        emit.template.cache_clear()
