"""The inliner: a module carries exactly the closure of the kernels its layout uses, in
source order; the templates hold no kernel; the kernel modules keep to their layout."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pcdsl.codegen import inline
from pcdsl.codegen.inline import inline_kernels, kernel_statements, needed_kernels
from pcdsl.driver import compile_source, emit_python

TEMPLATES = Path(inline.__file__).parent / "templates"
KERNEL_NAMES = {name for kernel in kernel_statements() for name in kernel.defines}

CATEGORICAL = """
model m {
  data    = image(channels = 1, height = 4, width = 4, values = 3)
  regions = quad_tree(splits = 4)
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
}"""
GAUSSIAN = """
model m {
  data    = image(channels = 1, height = 4, width = 4, domain = real)
  regions = quad_tree(splits = 4)
  inputs  = gaussian(units = 2)
  layers  = cp(units = 2)
}"""
SQUARED = """
model base {{
  data    = image(channels = 1, height = 2, width = 2, {values})
  regions = quad_tree(splits = 4)
  inputs  = {inputs}(units = 2)
  layers  = cp(units = 3)
  weights = none(init = normal(mean = 0.0, std = 0.7))
}}
model made = square(base)
"""
MODELS = {
    "categorical": (CATEGORICAL, None),
    "gaussian": (GAUSSIAN, None),
    "poon-domingos-stacked": (CATEGORICAL.replace("quad_tree(splits = 4)", "poon_domingos(delta = 2)")
                              .replace("cp(", "cp_t(").replace("}", "  mixing = dense\n}"), None),
    "tucker-mixing": (CATEGORICAL.replace("quad_tree(splits = 4)", "linear_tree(repetitions = 2)")
                      .replace("cp(", "tucker("), None),
    "binomial": (CATEGORICAL.replace("categorical(", "binomial("), None),
    "embedding-two-channels": (CATEGORICAL.replace("categorical(", "embedding(")
                               .replace("channels = 1", "channels = 2"), None),
    "squared": (SQUARED.format(values="values = 3", inputs="categorical"), "made"),
    "squared-real": (SQUARED.format(values="domain = real", inputs="gaussian"), "made"),
}


def generated(name: str) -> str:
    source, model = MODELS[name]
    compiled = compile_source(source, "spec.pc")
    return emit_python(compiled, compiled.model(model))


def defined(kernels) -> set[str]:
    return {name for kernel in kernels for name in kernel.defines}


def test_the_closure_follows_the_kernels_a_kernel_calls():
    layout = "def f(h, s):\n    return _hadamard((h, h), (s, s))\n"
    assert [k.defines for k in needed_kernels(layout)] == [
        # in source order: scales, products
        {"_renormalise"}, {"_log_factors"}, {"_largest_unit"}, {"_hadamard"}]


def test_names_the_layout_defines_or_is_provided_are_not_inlined():
    layout = "_largest_unit = _largest_magnitude\nx = _hadamard\n"
    assert defined(needed_kernels(layout)) == {"_largest_magnitude", "_renormalise", "_log_factors",
                                               "_hadamard"}
    assert defined(needed_kernels("x = _hadamard\n", frozenset({"_renormalise"}))) == {"_hadamard"}
    assert inline_kernels("x = 1\n") == ""


def test_a_kernel_carries_the_comment_above_it():
    (chunk_bytes,) = [k for k in kernel_statements() if "_CHUNK_BYTES" in k.defines]
    assert chunk_bytes.source.startswith("# Work on large tensors")
    assert chunk_bytes.source.endswith("_CHUNK_BYTES = 1 << 20")


def test_kernel_modules_hold_definitions_after_their_marker_and_stand_ins_before_it():
    template_names = set()
    for template in TEMPLATES.glob("*.j2"):
        template_names |= set(re.findall(r"^([A-Z_][A-Z0-9_]*) = ", template.read_text(), re.M))
    for module in inline.KERNEL_MODULES:
        text = (Path(inline.__file__).parent / "kernels" / f"{module}.py").read_text()
        head, marker, code = text.partition(inline.INLINED)
        assert marker, module
        # Only definitions; the fused kernels, besides, import Triton and define their
        # Triton kernels under an ``if`` (where CUDA is there).
        allowed = (ast.FunctionDef, ast.ClassDef, ast.Assign) + ((ast.If,) if module == "fused" else ())
        for statement in ast.parse(code).body:
            assert isinstance(statement, allowed), (module, statement.lineno)
        # Every constant a kernel module stands in for is one that the module writes.
        stand_ins = {t.id for s in ast.parse(head).body if isinstance(s, (ast.Assign, ast.AnnAssign))
                     for t in ([s.target] if isinstance(s, ast.AnnAssign) else s.targets)}
        assert stand_ins <= template_names, (module, stand_ins - template_names)
        assert not stand_ins & KERNEL_NAMES


def test_no_template_defines_a_kernel():
    for template in TEMPLATES.glob("*.j2"):
        text = template.read_text()
        assert not re.search(r"^def ", text, re.M), template.name
        assert not re.search(r"^class _", text, re.M), template.name
        assert not set(re.findall(r"^(?:class )?(\w+)", text, re.M)) & (KERNEL_NAMES - {
            "_largest_unit"}), template.name  # a signed module binds _largest_unit itself


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_module_carries_exactly_the_closure_of_what_its_layout_reads(name):
    """Computed here with ``ast``, from the statements of the module that are not kernels."""
    text = generated(name)
    sources = {kernel.source: kernel for kernel in kernel_statements()}
    tree = ast.parse(text)
    lines = text.splitlines()
    inlined, layout = set(), []
    for statement in tree.body:
        body = "\n".join(lines[statement.lineno - 1:statement.end_lineno])
        kernel = next((k for source, k in sources.items() if source.endswith(body)), None)
        if kernel is not None and kernel.defines:
            inlined |= kernel.defines
        else:
            layout.append(statement)
    definition = {name: k for k in kernel_statements() for name in k.defines}
    own = inline._defined_at_top(ast.Module(layout, []))
    pending = {n.id for s in layout for n in ast.walk(s) if isinstance(n, ast.Name)}
    closure: set[str] = set()
    while pending:
        found = pending.pop()
        if found in definition and found not in own and found not in closure:
            closure |= definition[found].defines
            pending |= definition[found].reads
    assert inlined == closure


def test_a_categorical_module_has_no_gaussian_or_gram_kernel_and_a_gaussian_one_no_table():
    categorical, gaussian = generated("categorical"), generated("gaussian")
    for absent in ("_gaussian_", "_GaussianInputs", "_HALF_LOG_TWO_PI", "_gram_", "_GramPass",
                   "def _kronecker", "def _stacked", "def _largest_magnitude", "def _binomial"):
        assert absent not in categorical, absent
    assert "class _GaussianInputs" in gaussian and "_largest_unit = " not in gaussian
    for absent in ("_TableRows", "_TableInputs", "def _lookups", "def _dense_table"):
        assert absent not in gaussian, absent


def test_squared_modules_carry_the_gram_kernels_and_a_real_one_no_sampler():
    squared, real = generated("squared"), generated("squared-real")
    assert "def _gram_inputs" in squared and "class _GramSampling" in squared
    assert "_largest_unit = _largest_magnitude" in squared and "def _largest_unit" not in squared
    assert "def _gram_gaussians" in real and "_GramSampling" not in real
    assert "def _gram_inputs" not in real
    assert "def _gram_" not in generated("categorical")


def test_the_same_spec_gives_the_same_text_and_imports_only_torch():
    text = generated("poon-domingos-stacked")
    assert text == generated("poon-domingos-stacked")
    imports = {line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"__future__", "torch"}


def test_the_shipped_kernel_index_is_that_of_the_kernels():
    # Fails after a kernel edit until `python scripts/regenerate.py` is run; until then
    # codegen parses the kernels itself (slower, same result).
    shipped = (Path(inline.__file__).parent / "kernel_index.py").read_text(encoding="utf-8")
    assert shipped == inline.index_source()


def test_the_index_gives_the_kernels_that_parsing_them_gives(monkeypatch):
    indexed = inline.kernel_statements()
    inline.kernel_statements.cache_clear()
    monkeypatch.setattr(inline, "shipped_index", lambda sha256: None)
    try:
        parsed = inline.kernel_statements()
    finally:
        inline.kernel_statements.cache_clear()
    def placed(kernels):
        return [(k.module, k.defines, k.source) for k in kernels]

    assert placed(indexed) == placed(parsed)
    names = {name for k in parsed for name in k.defines}
    assert [k.reads & names for k in indexed] == [k.reads & names for k in parsed]
