"""`pcc`: exit codes, where output goes, and what the user reads, run in-process through
``pcdsl.cli.main.main`` and once as ``python -m pcdsl``."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pcdsl
from pcdsl.cli.main import main
from tests.cli.helpers import pcc

ROOT = Path(__file__).resolve().parents[2]
MNIST = str(ROOT / "examples" / "mnist.pc")

BAD = """\
model m {
  data = image(height = 2, width = 2)
  layers = cp(units = 0)
}
"""
BAD_LOCATION = "bad.pc:3:23: error:"

# a = {x0, x2} and b = {x1, x3}: the first partition of r covers all four variables,
# the second only x0 and x1, so r's sum is not smooth (r still covers every variable).
NOT_SMOOTH = """\
model bad {
  data = variables(count = 4, values = 2)
  structure {
    region a = x[0] * x[2]
    region b = x[1] * x[3]
    region r = a * b | x[0] * x[1]
  }
}
"""

# x[1] is in `a` and on its own in the same partition.
NOT_DECOMPOSABLE = """\
model bad {
  data = variables(count = 4, values = 2)
  structure {
    region a = x[0] * x[1]
    region r = a * x[1] * x[2] * x[3]
  }
}
"""

TWO_MODELS = """\
model small {
  data = image(height = 2, width = 2)
}
model large {
  data = image(height = 4, width = 4)
}
"""

LOCATION = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+): error: (?P<message>.*)$",
                      re.MULTILINE)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run every command from an empty folder, so relative paths name files there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PCDSL_DEBUG", raising=False)
    return tmp_path


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return path.name


def assert_no_traceback(*streams: str) -> None:
    for stream in streams:
        assert "Traceback" not in stream
        assert "internal error" not in stream


def errors_in(stderr: str) -> list[dict[str, str]]:
    return [m.groupdict() for m in LOCATION.finditer(stderr)]


# Basics -------------------------------------------------------------------------------

def test_version(capsys):
    status, out, _ = pcc(capsys, "--version")
    assert status == 0
    assert out.strip() == f"pcc {pcdsl.__version__}"
    assert re.fullmatch(r"pcc \d+\.\d+\.\d+\S*", out.strip())


def test_help_exits_0_and_lists_the_commands(capsys):
    status, out, err = pcc(capsys, "--help")
    assert status == 0
    assert out.startswith("usage: pcc")
    for command in ("compile", "check", "info"):
        assert command in out
    status, out, _ = pcc(capsys, "check", "--help")
    assert status == 0
    assert "--format" in out


def test_the_command_list_names_every_registered_command_in_help_order():
    # main() tells commands from files by COMMANDS, before any module registers its own.
    from pcdsl.cli.main import COMMANDS, _parser

    def commands_of(parser):
        return tuple(parser._subparsers._group_actions[0].choices)

    assert commands_of(_parser()) == COMMANDS
    for command in COMMANDS:  # the parser for one command defines that command
        assert command in commands_of(_parser(command))


def test_compiling_imports_no_other_command(tmp_path):
    # Importing every command's module is a twentieth of compiling a small spec.
    script = (f"import sys; from pcdsl.cli.main import main; code = main([{MNIST!r}, '-o', 'm.py']); "
              "print(sorted(m for m in sys.modules if m.startswith('pcdsl.cli.'))); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert ast.literal_eval(run.stdout.strip().splitlines()[-1]) == ["pcdsl.cli.common",
                                                                     "pcdsl.cli.main"]


def test_no_arguments_is_a_usage_error(capsys):
    status, _, err = pcc(capsys)
    assert status == 2
    assert "usage: pcc" in err


def test_entry_point_runs_as_a_module(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PCDSL_DEBUG"}
    version = subprocess.run([sys.executable, "-m", "pcdsl", "--version"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"pcc {pcdsl.__version__}"

    write(tmp_path / "bad.pc", BAD)
    failed = subprocess.run([sys.executable, "-m", "pcdsl", "bad.pc", "-o", "out.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert BAD_LOCATION in failed.stderr
    assert_no_traceback(failed.stdout, failed.stderr)
    assert not (tmp_path / "out.py").exists()


# Compiling ----------------------------------------------------------------------------

def test_compile_writes_the_module(capsys, tmp_path):
    output = tmp_path / "tmp" / "model.py"
    output.parent.mkdir()
    status, out, err = pcc(capsys, MNIST, "-o", str(output))
    assert status == 0, err
    assert err == ""
    assert output.is_file()
    text = output.read_text(encoding="utf-8")
    assert "class " in text and "25,657,730" in text
    # Nothing but the module is left in the output folder (no temporary files).
    assert [p.name for p in output.parent.iterdir()] == ["model.py"]


def test_compile_subcommand_and_default_output_name(capsys, tmp_path):
    status, _, err = pcc(capsys, "compile", MNIST)
    assert status == 0, err
    assert (tmp_path / "mnist.py").is_file()


def test_compile_to_standard_output(capsys, tmp_path):
    status, out, _ = pcc(capsys, MNIST, "-o", "-")
    assert status == 0
    assert out.startswith("# Generated by pcc")
    assert list(tmp_path.iterdir()) == []


def test_compiling_twice_gives_identical_bytes(capsys, tmp_path):
    output = tmp_path / "model.py"
    assert pcc(capsys, MNIST, "-o", str(output))[0] == 0
    first = output.read_bytes()
    assert pcc(capsys, MNIST, "-o", str(output))[0] == 0
    assert output.read_bytes() == first


def test_generated_module_imports_only_torch(capsys, tmp_path):
    output = tmp_path / "model.py"
    assert pcc(capsys, MNIST, "-o", str(output))[0] == 0
    text = output.read_text(encoding="utf-8")
    tree = ast.parse(text)  # also: the module is valid Python
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a standalone module"
            imported.add(node.module.split(".")[0])
    assert "torch" in imported
    # Triton only for the fused kernels, guarded where CUDA is available (the guard itself
    # is checked in tests/codegen/test_emit.py).
    assert imported <= {"__future__", "torch", "triton"}
    # The same, line by line, for any import the AST walk could not see (e.g. in a string
    # passed to exec or importlib).
    import_lines = [line for line in text.splitlines() if re.match(r"\s*(import|from)\s+\w", line)]
    assert import_lines
    assert all(re.match(r"(import|from) (__future__|torch)\b", line) or
               re.match(r" {8}import triton(\.language as tl)?$", line) for line in import_lines)
    assert "import pcdsl" not in text and "from pcdsl" not in text
    assert "importlib" not in text


def test_spec_with_an_error_exits_1_without_writing(capsys, tmp_path):
    spec = write(tmp_path / "bad.pc", BAD)
    status, out, err = pcc(capsys, spec, "-o", "model.py")
    assert status == 1
    assert BAD_LOCATION in err
    assert err.startswith(BAD_LOCATION)
    assert "units = 0" in err  # the source line is shown
    assert_no_traceback(out, err)
    assert not (tmp_path / "model.py").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pc"]


def test_spec_with_an_error_leaves_an_existing_output_untouched(capsys, tmp_path):
    spec = write(tmp_path / "bad.pc", BAD)
    existing = tmp_path / "model.py"
    existing.write_text("# the previous, good module\n")
    before = existing.stat().st_mtime_ns
    status, _, err = pcc(capsys, spec, "-o", "model.py")
    assert status == 1
    assert BAD_LOCATION in err
    assert existing.read_text() == "# the previous, good module\n"
    assert existing.stat().st_mtime_ns == before


def test_missing_input_file_exits_2_with_a_clear_message(capsys, tmp_path):
    status, out, err = pcc(capsys, "nosuch.pc", "-o", "model.py")
    assert status == 2
    assert "nosuch.pc" in err
    assert re.search(r"no such file", err, re.IGNORECASE)
    assert_no_traceback(out, err)
    assert not (tmp_path / "model.py").exists()


def test_warnings_are_printed_and_the_module_is_still_written(capsys, tmp_path):
    spec = write(tmp_path / "warn.pc",
                 "const UNUSED = 1\nmodel m { data = image(height = 2, width = 2) }\n")
    status, _, err = pcc(capsys, spec, "-o", "model.py")
    assert status == 0
    assert "warn.pc:1:7: warning:" in err and "UNUSED" in err
    assert (tmp_path / "model.py").is_file()


# Several models -----------------------------------------------------------------------

def test_file_with_two_models_requires_model(capsys, tmp_path):
    spec = write(tmp_path / "two.pc", TWO_MODELS)
    status, out, err = pcc(capsys, spec, "-o", "model.py")
    assert status == 2
    assert "small" in err and "large" in err
    assert "--model" in err
    assert_no_traceback(out, err)
    assert not (tmp_path / "model.py").exists()

    status, _, err = pcc(capsys, spec, "-o", "model.py", "--model", "large")
    assert status == 0, err
    text = (tmp_path / "model.py").read_text()
    assert "MODEL_NAME = \"large\"" in text or "MODEL_NAME = 'large'" in text


def test_unknown_model_suggests_the_closest_name(capsys, tmp_path):
    spec = write(tmp_path / "two.pc", TWO_MODELS)
    status, out, err = pcc(capsys, spec, "-o", "model.py", "--model", "smal")
    assert status == 2
    assert "'smal'" in err
    assert "did you mean 'small'?" in err
    assert_no_traceback(out, err)
    assert not (tmp_path / "model.py").exists()


# pcc check ----------------------------------------------------------------------------

def test_check_good_file(capsys):
    status, out, err = pcc(capsys, "check", MNIST)
    assert status == 0
    assert out.strip() == f"{MNIST}: ok"
    assert err == ""


def test_check_non_smooth_structure(capsys, tmp_path):
    spec = write(tmp_path / "smooth.pc", NOT_SMOOTH)
    status, out, err = pcc(capsys, "check", spec)
    assert status == 1
    assert out.strip() == "smooth.pc: 1 error"
    (first, *_) = errors_in(err)
    assert first["file"] == "smooth.pc"
    assert (first["line"], first["column"]) == ("6", "5")  # region r's declaration
    assert "region 'r'" in first["message"]
    assert "not smooth" in first["message"]
    assert "region r = a * b | x[0] * x[1]" in err
    assert_no_traceback(out, err)


def test_check_non_decomposable_structure(capsys, tmp_path):
    spec = write(tmp_path / "decomp.pc", NOT_DECOMPOSABLE)
    status, out, err = pcc(capsys, "check", spec)
    assert status == 1
    assert out.strip() == "decomp.pc: 1 error"
    (first, *_) = errors_in(err)
    assert first["file"] == "decomp.pc"
    assert (first["line"], first["column"]) == ("5", "16")  # the offending partition
    assert "region 'r'" in first["message"]
    assert "not decomposable" in first["message"]
    assert "x[1]" in first["message"]  # the shared variable is named
    assert_no_traceback(out, err)


def test_check_several_files_gives_a_verdict_per_file(capsys, tmp_path):
    bad = write(tmp_path / "bad.pc", BAD)
    smooth = write(tmp_path / "smooth.pc", NOT_SMOOTH)
    status, out, err = pcc(capsys, "check", bad, MNIST, smooth)
    assert status == 1
    # Every file is checked, in order, even after one fails.
    assert out.splitlines() == ["bad.pc: 1 error", f"{MNIST}: ok", "smooth.pc: 1 error"]
    assert [e["file"] for e in errors_in(err)] == ["bad.pc", "smooth.pc"]


def test_check_missing_file_exits_2(capsys, tmp_path):
    status, out, err = pcc(capsys, "check", MNIST, "nosuch.pc")
    assert status == 2
    assert "nosuch.pc" in err
    assert_no_traceback(out, err)


def test_check_json(capsys, tmp_path):
    bad = write(tmp_path / "bad.pc", BAD)
    status, out, err = pcc(capsys, "check", "--format", "json", MNIST, bad)
    assert status == 1
    found = json.loads(out)  # standard output holds the JSON and nothing else
    assert isinstance(found, list)
    assert len(found) == 1
    (d,) = found
    assert {"file", "line", "column", "severity", "code", "message"} <= set(d)
    assert d["file"] == "bad.pc"
    assert (d["line"], d["column"]) == (3, 23)
    assert d["severity"] == "error"
    assert d["code"] == "range"
    assert "'units' of 'cp'" in d["message"]


def test_check_json_of_a_good_file_is_an_empty_list(capsys):
    status, out, _ = pcc(capsys, "check", "--format", "json", MNIST)
    assert status == 0
    assert json.loads(out) == []


# pcc info -----------------------------------------------------------------------------

def test_info_json(capsys):
    status, out, err = pcc(capsys, "info", MNIST, "--json")
    assert status == 0, err
    facts = json.loads(out)
    assert facts["model"] == "mnist"
    assert facts["num_parameters"] == 25657730
    assert facts["num_variables"] == 784
    assert facts["is_smooth"] is True
    assert facts["is_decomposable"] is True
    assert facts["is_structured_decomposable"] is False


def test_info_text(capsys):
    status, out, _ = pcc(capsys, "info", MNIST)
    assert status == 0
    assert out.startswith("model mnist")
    assert "25,657,730" in out
    # The summary line and the table are named apart.
    assert out.count("folds:") == 1 and out.count("fold details:") == 1


def test_info_with_two_models(capsys, tmp_path):
    spec = write(tmp_path / "two.pc", TWO_MODELS)
    status, _, err = pcc(capsys, "info", spec, "--json")
    assert status == 2
    assert "small" in err and "large" in err
    status, out, _ = pcc(capsys, "info", spec, "--json", "--model", "small")
    assert status == 0
    facts = json.loads(out)
    assert facts["model"] == "small"
    assert facts["num_variables"] == 4


def test_generated_file_gets_the_usual_permissions(tmp_path):
    """The atomic write goes through a private temporary file; the result must still be
    readable by others under the usual umask, like any file the user writes."""
    import os
    import stat

    out = tmp_path / "model.py"
    old = os.umask(0o022)
    try:
        assert main([MNIST, "-o", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
