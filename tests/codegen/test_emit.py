"""The generated file: deterministic, standalone, and free of spec text."""

from __future__ import annotations

import ast
import re

from pcdsl import __version__
from pcdsl.driver import compile_file, compile_source, emit_python
from tests.conftest import EXAMPLES


def generate(path=EXAMPLES / "mnist.pc") -> str:
    compiled = compile_file(str(path))
    return emit_python(compiled, compiled.model(None))


def test_compiling_twice_is_byte_identical():
    assert generate() == generate()


def test_generated_file_imports_only_torch():
    tree = ast.parse(generate())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"__future__", "torch"}


def test_header_names_spec_hash_and_version():
    import hashlib

    text = generate()
    digest = hashlib.sha256((EXAMPLES / "mnist.pc").read_bytes()).hexdigest()
    header = "\n".join(text.splitlines()[:3])
    assert "mnist.pc" in header and digest in header and __version__ in header
    assert f'SPEC_SHA256 = "{digest}"' in text


def test_forward_has_one_statement_per_fold():
    compiled = compile_file(str(EXAMPLES / "mnist.pc"))
    model = compiled.model(None)
    text = emit_python(compiled, model)
    forward = text[text.index("def forward"):text.index("# Index tables")]
    statements = [line for line in forward.splitlines()
                  if re.match(r"\s+h\d+, s\d+ = ", line)]
    assert len(statements) == len(model.folded.folds) == 35


def test_unsafe_file_names_do_not_reach_comments():
    source = "model m { data = image(height = 2, width = 2) }"
    compiled = compile_source(source, 'evil"""\nimport os.pc')
    text = emit_python(compiled, compiled.models[0])
    assert "import os" not in text
    compile(text, "generated.py", "exec")  # still valid Python
