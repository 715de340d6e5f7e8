"""`pcc check` for CI: GitHub annotations, exit codes, warnings as errors, budgets, lint
warnings, and the pre-commit hooks. Run in-process through ``pcdsl.cli.main.main``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pcdsl.cli.check import escape_data, escape_property, github_annotation
from pcdsl.diagnostics import Diagnostic, Severity, Span
from tests.cli.helpers import in_tmp, pcc, write  # noqa: F401 (in_tmp: autouse)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.pc"))
MNIST = str(ROOT / "examples" / "mnist.pc")

# Three independent mistakes, one per line, each at a known column.
BROKEN = """\
model m {
  data    = image(height = 2, width = 2)
  layers  = cp(units = 0)
  inputs  = categorical(units = 1.5)
  wieghts = softmax
}
"""
BROKEN_PLACES = [(3, 24, "range"), (4, 33, "type"), (5, 3, "unknown-name")]

WARNS = "const UNUSED = 1\nmodel m { data = image(height = 2, width = 2) }\n"
ANNOTATION = re.compile(r"^::(?P<level>error|warning|notice) (?P<properties>[^:]*)::(?P<message>.*)$")


def annotations(out: str) -> list[dict]:
    """Every workflow command of standard output, its properties unescaped."""
    found = []
    for line in out.splitlines():
        match = ANNOTATION.match(line)
        assert match, f"not a workflow command: {line!r}"
        properties = dict(item.split("=", 1) for item in match["properties"].split(","))
        found.append({"level": match["level"], **properties, "message": match["message"]})
    return found


# GitHub annotations --------------------------------------------------------------------

def test_examples_are_clean_in_github_format(capsys):
    """The acceptance check: the examples give no annotation at all and exit 0."""
    status, out, err = pcc(capsys, "check", "--format", "github", *EXAMPLES)
    assert status == 0, out + err
    assert "::error" not in out
    assert out == ""


def test_a_broken_spec_gives_one_annotation_per_problem_at_its_place(capsys):
    spec = write("broken.pc", BROKEN)
    status, out, err = pcc(capsys, "check", "--format", "github", spec)
    assert status == 1
    assert err == ""
    found = annotations(out)
    places = sorted((int(a["line"]), int(a["col"]), a["title"]) for a in found)
    assert places == BROKEN_PLACES
    assert {a["level"] for a in found} == {"error"}
    assert {a["file"] for a in found} == {"broken.pc"}
    for a in found:
        assert a["endLine"] == a["line"]
        assert int(a["endColumn"]) >= int(a["col"])
    typo = next(a for a in found if a["title"] == "unknown-name")
    assert typo["message"].startswith("unknown setting 'wieghts'%0Ahelp: did you mean 'weights'? (one of: ")
    assert typo["endColumn"] == "9"  # the last column of 'wieghts'


def test_the_exact_annotation_of_one_problem(capsys):
    spec = write("bad.pc", "model m {\n  data = image(height = 2, width = 2)\n  layers = cp(units = 0)\n}\n")
    status, out, _ = pcc(capsys, "check", "--format", "github", spec)
    assert status == 1
    assert out == ("::error file=bad.pc,line=3,col=23,endLine=3,endColumn=23,title=range::"
                   "'units' of 'cp' must be at least 1, found 0\n")


def test_warnings_are_warning_annotations_and_exit_0(capsys):
    spec = write("warn.pc", WARNS)
    status, out, _ = pcc(capsys, "check", "--format", "github", spec)
    assert status == 0
    (a,) = annotations(out)
    assert a["level"] == "warning" and a["title"] == "unused"
    assert (a["line"], a["col"]) == ("1", "7")


def test_an_unreadable_file_is_an_annotation_on_the_file_and_exit_2(capsys):
    status, out, _ = pcc(capsys, "check", "--format", "github", MNIST, "nosuch.pc")
    assert status == 2
    (a,) = annotations(out)
    assert a["level"] == "error" and a["title"] == "io" and a["file"] == "nosuch.pc"
    assert "line" not in a


def test_messages_and_properties_are_escaped():
    assert escape_data("100% sure\r\nnext") == "100%25 sure%0D%0Anext"
    assert escape_property("C:\\a,b%c\n") == "C%3A\\a%2Cb%25c%0A"
    d = Diagnostic(Severity.ERROR, "x", "50% of it: a, b\nc", Span("dir:1/a,b.pc", 2, 3, 2, 5),
                   "try: this")
    line = github_annotation(d)
    assert line == ("::error file=dir%3A1/a%2Cb.pc,line=2,col=3,endLine=2,endColumn=4,title=x::"
                    "50%25 of it: a, b%0Ac%0Ahelp: try: this")
    assert "\n" not in line


def test_a_span_over_several_lines_has_no_columns():
    """GitHub takes columns only when the annotation is on one line."""
    d = Diagnostic(Severity.WARNING, "size", "big", Span("a.pc", 2, 1, 9, 2))
    assert github_annotation(d) == "::warning file=a.pc,line=2,endLine=9,title=size::big"


def test_notes_follow_the_message():
    d = Diagnostic(Severity.ERROR, "duplicate", "defined twice", Span("a.pc", 4, 3, 4, 9),
                   notes=(("first definition", Span("a.pc", 3, 3, 3, 9)),))
    assert github_annotation(d).endswith("::defined twice%0Anote: line 3, column 3: first definition")


# Exit codes, warnings as errors --------------------------------------------------------

def test_warnings_as_errors(capsys):
    spec = write("warn.pc", WARNS)
    status, out, err = pcc(capsys, "check", spec)
    assert (status, out.strip()) == (0, "warn.pc: ok")
    assert "warn.pc:1:7: warning:" in err
    status, out, _ = pcc(capsys, "check", "--warnings-as-errors", spec)
    assert (status, out.strip()) == (1, "warn.pc: 1 warning")
    status, out, _ = pcc(capsys, "check", "-W", "--format", "json", spec)
    assert status == 1
    assert [d["severity"] for d in json.loads(out)] == ["warning"]


def test_warnings_as_errors_leaves_clean_files_clean(capsys):
    status, out, _ = pcc(capsys, "check", "-W", MNIST)
    assert status == 0
    assert out.strip() == f"{MNIST}: ok"


@pytest.mark.parametrize("arguments", [
    ["--format", "xml", MNIST], ["--max-params", "0", MNIST], ["--max-layers", "x", MNIST], [],
])
def test_usage_errors_exit_2(capsys, arguments):
    status, _, err = pcc(capsys, "check", *arguments)
    assert status == 2
    assert "usage:" in err and "Traceback" not in err


# Budgets -------------------------------------------------------------------------------

def test_max_params_is_an_error_at_the_model(capsys):
    status, out, _ = pcc(capsys, "check", "--format", "json", "--max-params", "1000000", MNIST)
    assert status == 1
    (d,) = json.loads(out)
    assert d["code"] == "budget" and d["severity"] == "error"
    assert "25,657,730 parameters" in d["message"] and "1,000,000" in d["message"]
    source = Path(MNIST).read_text().splitlines()
    assert source[d["line"] - 1].startswith("model mnist")
    assert d["column"] == 1 and d["end_line"] > d["line"]
    status, out, _ = pcc(capsys, "check", "--max-params", "25657730", MNIST)
    assert (status, out.strip()) == (0, f"{MNIST}: ok")


def test_max_layers_in_github_format(capsys):
    spec = write("two.pc", "model small { data = image(height = 2, width = 2) }\n"
                           "model large {\n  data = image(height = 8, width = 8)\n}\n")
    status, out, _ = pcc(capsys, "check", "--format", "github", "--max-layers", "50", spec)
    assert status == 1
    (a,) = annotations(out)
    assert a["title"] == "budget" and "'large'" in a["message"]
    assert (a["line"], a["endLine"]) == ("2", "4")
    status, _, _ = pcc(capsys, "check", "--max-layers", "100000", spec)
    assert status == 0


# Lint warnings and the size guard ------------------------------------------------------

def test_lint_warnings_reach_check(capsys):
    spec = write("flat.pc", "model m {\n  data = image(height = 3, width = 3)\n"
                            "  regions = random_binary_tree(depth = 0)\n}\n")
    status, out, _ = pcc(capsys, "check", "--format", "github", spec)
    assert status == 0
    (a,) = annotations(out)
    assert a["level"] == "warning" and a["title"] == "degenerate"
    assert (a["line"], a["col"]) == ("3", "13")
    assert "no partitions" in a["message"]


def test_a_huge_model_is_an_error_not_a_hang(capsys):
    spec = write("huge.pc", "model m {\n  data = image(1, 99999, 99999)\n}\n")
    status, out, err = pcc(capsys, "check", spec)
    assert status == 1
    assert out.strip() == "huge.pc: 1 error"
    assert "huge.pc:2:10: error: model 'm' has 9,999,800,001 variables" in err


# pre-commit ------------------------------------------------------------------------------

def test_pre_commit_hooks():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    yaml = pytest.importorskip("yaml")
    hooks = {hook["id"]: hook for hook in yaml.safe_load(text)}
    assert hooks["pcc-check"]["entry"] == "pcc check"
    assert hooks["pcc-fmt"]["entry"] == "pcc fmt --check"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert re.search(hook["files"], "specs/model.pc")
        assert not re.search(hook["files"], "model.py")


def test_pre_commit_hooks_text():
    """The same facts without a YAML parser (PyYAML is not a dependency)."""
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: pcc-check\n" in text and "- id: pcc-fmt\n" in text
    assert "  entry: pcc check\n" in text and "  entry: pcc fmt --check\n" in text
    assert text.count("  language: python\n") == 2
    assert text.count("  files: \\.pc$\n") == 2


def test_invisible_characters_in_messages_are_shown_escaped():
    d = Diagnostic(Severity.ERROR, "file", "cannot read the tree file '\u202ex\u202c': \x1b[31mno",
                   Span("a\u200db.pc", 1, 1, 1, 2))
    line = github_annotation(d)
    assert line == ("::error file=a\\u200db.pc,line=1,col=1,endLine=1,endColumn=1,title=file::"
                    "cannot read the tree file '\\u202ex\\u202c': \\u001b[31mno")
    assert all(c.isprintable() for c in line)


def test_a_huge_file_is_refused_without_reading_it_all(capsys):
    status, _, err = pcc(capsys, "check", "/dev/zero")
    assert status == 2 and "over 16 MiB" in err and "Traceback" not in err
