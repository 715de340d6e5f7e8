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


def _imported(nodes) -> set[str]:
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_generated_file_imports_only_torch():
    # torch, and Triton for the fused kernels only where CUDA is available, and then only
    # if it is installed (CUDA builds of torch ship it).
    tree = ast.parse(generate())
    optional = [node for node in tree.body if isinstance(node, ast.If)
                and ast.unparse(node.test) == "torch.cuda.is_available()"]
    assert len(optional) == 1
    (guard,) = optional[0].body
    assert isinstance(guard, ast.Try) and [ast.unparse(h.type) for h in guard.handlers] == ["Exception"]
    assert _imported(guard.body) == {"triton"}
    elsewhere = [n for n in ast.walk(tree) if n not in set(ast.walk(guard))]
    assert _imported(elsewhere) == {"__future__", "torch"}


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
    statements = {match.group(1) for match in re.finditer(r"\n\s+(h\d+), s\d+ = ", forward)}
    # Input folds are read through table lookups and need no statement of their own.
    computed = [f for f in model.folded.folds if f.kind.value != "categorical"]
    assert len(statements) == len(computed) == 34


def test_unsafe_file_names_do_not_reach_comments():
    source = "model m { data = image(height = 2, width = 2) }"
    compiled = compile_source(source, 'evil"""\nimport os.pc')
    text = emit_python(compiled, compiled.models[0])
    assert "import os" not in text
    compile(text, "generated.py", "exec")  # still valid Python


def test_generated_file_is_lint_clean(tmp_path):
    """The generated file reads like careful code: ruff finds nothing at 100 columns."""
    import subprocess
    import sys

    import pytest

    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode:
        pytest.skip("ruff is not installed")
    path = tmp_path / "model.py"
    path.write_text(generate())
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
               "--line-length", "100", "--select", "E,W,F,I", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_every_kind_of_module_is_lint_clean(tmp_path):
    """Long argument lists (Poon-Domingos' stacked sums over many partitions), long
    parameter expressions and every input kind stay within 100 columns."""
    import subprocess
    import sys

    import pytest

    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode:
        pytest.skip("ruff is not installed")
    paths = []
    for name in ("poon_domingos", "chow_liu_tree", "gaussian", "embedding", "linear_tree"):
        path = tmp_path / f"{name}.py"
        path.write_text(generate(EXAMPLES / f"{name}.pc"))
        paths.append(str(path))
    source = """model m { data = image(channels = 3, height = 5, width = 4, values = 7)
        regions = poon_domingos(delta = 1) inputs = categorical(units = 3,
        logits = positive_clamp(init = uniform(a = 0.5, b = 1.5), minimum = 0.001))
        layers = cp_t(units = 3) mixing = dense weights = none(init = uniform())
        dense_weights = positive_clamp(minimum = 0.0001) }"""
    compiled = compile_source(source, "spec.pc")
    (tmp_path / "mixed.py").write_text(emit_python(compiled, compiled.models[0]))
    paths.append(str(tmp_path / "mixed.py"))
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
               "--line-length", "100", "--select", "E,W,F,I", *paths]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
