"""No text of a spec reaches a generated module except validated identifiers (the model's
name) and numbers: injection attempts and look-alike characters are rejected with a
diagnostic at the character at fault; comments and strings never reach the output; and
every example and many fuzzed specs generate modules that hold only what the code
generator itself writes (``tests.security.scan``)."""

from __future__ import annotations

import ast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcdsl.diagnostics import CompileError, Diagnostic
from pcdsl.driver import compile_file, compile_source, emit_python
from tests.fuzz.harness import ROOT, mutated_specs, schema_specs
from tests.security.scan import scan, string_constants

FILE = "spec.pc"
IMAGE = "data = image(height = 2, width = 2, values = 3) inputs = categorical(units = 2) " \
        "layers = cp(units = 2)"
MARKER = "zqxmarker"  # a word the code generator never writes


def rejected(source: str) -> Diagnostic:
    """The first error of a spec that must not compile; it points into the file."""
    with pytest.raises(CompileError) as info:
        compile_source(source, FILE)
    (first, *_) = [d for d in info.value.diagnostics if d.is_error]
    assert first.span is not None and first.span.file == FILE
    assert first.span.line >= 1 and first.span.column >= 1
    return first


def generated(source: str, name: str = FILE) -> list[str]:
    compiled = compile_source(source, name)
    return [emit_python(compiled, model) for model in compiled.models]


def column_of(source: str, text: str) -> tuple[int, int]:
    """1-based (line, column) of the first ``text`` in ``source``."""
    before = source[:source.index(text)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# Injection attempts ---------------------------------------------------------------------

INJECTIONS = {
    "model name": 'model x"""; import os {\n  ' + IMAGE + "\n}\n",
    "setting key": 'model m {\n  ' + IMAGE + '\n  x"""; import os = 1\n}\n',
    "constant name": 'const x"; import os = 1\nmodel m { ' + IMAGE + " }\n",
    "region name": ('model m {\n  data = variables(count = 2, values = 2)\n  structure {\n'
                    '    region r"""; import os = x[0] * x[1]\n  }\n}\n'),
    "option value": "model m {\n  " + IMAGE.replace("units = 2)", 'units = __import__("os"))', 1)
                    + "\n}\n",
    "setting value": "model m {\n  " + IMAGE + "\n  seed = __import__\n}\n",
    "backslash escape": "model m\\u0041 {\n  " + IMAGE + "\n}\n",
    "semicolon": "model m {\n  " + IMAGE + "; import os\n}\n",
}


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_injection_attempts_are_rejected_with_a_span(case):
    rejected(INJECTIONS[case])


def test_model_name_injection_points_at_the_quote():
    source = INJECTIONS["model name"]
    d = rejected(source)
    assert d.code == "syntax"
    assert (d.span.line, d.span.column) == column_of(source, '"')


@pytest.mark.parametrize("name", ["__import__", "__builtins__", "exec", "class", "import",
                                  "None", "self", "torch", "Circuit"])
def test_a_valid_identifier_as_model_name_stays_data(name):
    """Python keywords and builtins are valid model names; they reach the module only as
    the string MODEL_NAME and in comments, never as code."""
    (text,) = generated(f"model {name} {{ {IMAGE} }}")
    assert scan(text, name, FILE) == []
    tree = ast.parse(text)
    assignments = {node.targets[0].id: node.value for node in ast.walk(tree)
                   if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert isinstance(assignments["MODEL_NAME"], ast.Constant)
    assert assignments["MODEL_NAME"].value == name
    if name in ("__import__", "exec", "__builtins__"):
        assert name not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


# Look-alike and invisible characters -----------------------------------------------------

LOOK_ALIKES = {
    "Cyrillic a in a model name": "\u0430",
    "Cyrillic e in a model name": "\u0435",
    "Greek omicron": "\u03bf",
    "fullwidth letter": "\uff41",
    "zero-width joiner": "\u200d",
    "zero-width space": "\u200b",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "no-break space": "\u00a0",
}


@pytest.mark.parametrize("case", sorted(LOOK_ALIKES))
def test_look_alike_characters_in_a_name_are_rejected_at_the_character(case):
    char = LOOK_ALIKES[case]
    source = f"model m{char}ain {{\n  {IMAGE}\n}}\n"
    d = rejected(source)
    assert d.code == "syntax"
    assert (d.span.line, d.span.column) == (1, 8)


@pytest.mark.parametrize("case", sorted(LOOK_ALIKES))
def test_look_alike_characters_in_a_setting_key_are_rejected(case):
    char = LOOK_ALIKES[case]
    source = f"model m {{\n  {IMAGE}\n  se{char}ed = 1\n}}\n"
    d = rejected(source)
    assert (d.span.line, d.span.column) == (3, 5)


def test_fullwidth_letters_spelling_a_keyword_are_rejected():
    source = "\uff4d\uff4f\uff44\uff45\uff4c m { " + IMAGE + " }\n"  # ｍｏｄｅｌ
    d = rejected(source)
    assert (d.span.line, d.span.column) == (1, 1)


def test_non_ascii_digits_in_numbers_are_rejected():
    source = "model m { data = image(height = \uff12, width = 2) }\n"
    d = rejected(source)
    assert (d.span.line, d.span.column) == column_of(source, "\uff12")


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200d", "\u200b"])
def test_bidirectional_and_invisible_characters_in_comments_never_reach_the_output(char):
    source = (f"# {MARKER} {char}evil{char} comment\nmodel m {{ {IMAGE}  # {char}{MARKER}\n}}\n")
    (text,) = generated(source)
    assert char not in text and MARKER not in text
    assert scan(text, "m", FILE) == []


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200d"])
def test_strings_never_reach_the_output(char):
    source = (f'const S = "{MARKER}{char}\\"; import os #"\n'
              f"model m {{ {IMAGE} }}\n")
    compiled = compile_source(source, FILE)
    assert [d.code for d in compiled.warnings] == ["unused"]
    text = emit_python(compiled, compiled.models[0])
    assert MARKER not in text and char not in text and "import os" not in text
    assert scan(text, "m", FILE) == []


def test_a_string_where_a_number_is_expected_is_a_type_error_that_escapes_it():
    source = f'model m {{ {IMAGE} seed = "{MARKER}\u202e" }}\n'
    d = rejected(source)
    assert d.code == "type"
    assert "\u202e" not in d.message  # shown escaped, so the message cannot reorder itself
    assert "\\u202e" in d.message


def test_a_string_option_value_does_not_reach_the_output(tmp_path):
    """The one string option (a tree file's path) is used to read the file; the module
    records the file's SHA-256, never its name."""
    trees = sorted((ROOT / "examples" / "trees").glob("*.json"))
    if not trees:
        pytest.skip("no tree file in examples/trees")
    tree = tmp_path / f"{MARKER}.json"
    tree.write_bytes(trees[0].read_bytes())
    spec = (ROOT / "examples" / "chow_liu_tree.pc").read_text(encoding="utf-8")
    spec = spec.replace(f"trees/{trees[0].name}", f"{MARKER}.json")
    assert MARKER in spec
    path = tmp_path / "spec.pc"
    path.write_text(spec, encoding="utf-8")
    compiled = compile_file(str(path))
    (text,) = [emit_python(compiled, m) for m in compiled.models]
    assert MARKER not in text
    assert scan(text, compiled.models[0].spec.name, "spec.pc") == []


def test_region_names_and_constant_names_never_reach_the_output():
    source = (f"const {MARKER}_units = 2\n"
              f"model m {{\n  data = variables(count = 3, values = 2)\n"
              f"  inputs = categorical(units = {MARKER}_units)\n"
              f"  structure {{\n    region {MARKER}_a = x[0] * x[1]\n"
              f"    region {MARKER}_root = {MARKER}_a * x[2]\n  }}\n}}\n")
    (text,) = generated(source)
    assert MARKER not in text
    assert scan(text, "m", FILE) == []


def test_the_spec_file_name_is_written_only_when_it_is_safe():
    (safe,) = generated(f"model m {{ {IMAGE} }}", "my-spec_1.pc")
    assert 'SPEC_FILE = "my-spec_1.pc"' in safe
    for name in ('x"; import os; ".pc', "spec\u202e.pc", "a b.pc", "spec\n.pc"):
        (text,) = generated(f"model m {{ {IMAGE} }}", name)
        assert 'SPEC_FILE = "<spec>"' in text
        assert "import os" not in text and "\u202e" not in text
        assert scan(text, "m", "") == []


def test_non_finite_numbers_are_rejected_not_written_as_names():
    for value in ("1e999", "-1e999", "1e999 - 1e999"):
        source = f"model m {{ {IMAGE} weights = softmax(init = normal(mean = {value})) }}\n"
        d = rejected(source)
        assert d.code == "range" and "finite" in d.message
        assert (d.span.line, d.span.column) == column_of(source, value)


# Whole modules ----------------------------------------------------------------------------

EXAMPLES = sorted((ROOT / "examples").glob("*.pc"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_generates_only_allowed_text(path):
    compiled = compile_file(str(path))
    for model in compiled.models:
        text = emit_python(compiled, model)
        assert scan(text, model.spec.name, path.name) == []
        assert model.spec.name in string_constants(text)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=st.one_of(schema_specs(), mutated_specs()))
def test_fuzzed_specs_generate_only_allowed_text(source):
    try:
        compiled = compile_source(source, FILE)
    except CompileError:
        return
    for model in compiled.models:
        text = emit_python(compiled, model)
        assert scan(text, model.spec.name, FILE) == [], source
