"""`pcc fmt FILE... [--check]`: rewrites in place only what changes, checks without
writing (a diff and exit 1), reports syntax errors like `pcc check`, reads stdin for '-'."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

from pcdsl.cli.main import main
from pcdsl.syntax.format import format_source

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.pc"))

UGLY = "model m { # the model\ndata=image(height=2,width=2)   layers = cp( units=4, ) }\n"
PRETTY = ("model m {  # the model\n"
          "  data   = image(height = 2, width = 2)\n"
          "  layers = cp(units = 4)\n"
          "}\n")
BROKEN = "model m {\n  data = image(height = 2 width = 2)\n}\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_formats_a_file_in_place(tmp_path, capsys):
    path = write(tmp_path, "ugly.pc", UGLY)
    assert main(["fmt", str(path)]) == 0
    assert path.read_text() == PRETTY
    assert format_source(PRETTY) == PRETTY
    out, err = capsys.readouterr()
    assert out == ""
    assert f"reformatted {path}" in err
    assert [p.name for p in tmp_path.iterdir()] == ["ugly.pc"]  # no temporary file left


def test_a_formatted_file_is_not_rewritten(tmp_path, capsys):
    path = write(tmp_path, "pretty.pc", PRETTY)
    before = os.stat(path)
    assert main(["fmt", str(path)]) == 0
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert capsys.readouterr() == ("", "")


def test_rewriting_keeps_the_files_permissions(tmp_path):
    path = write(tmp_path, "ugly.pc", UGLY)
    os.chmod(path, 0o640)
    assert main(["fmt", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert path.read_text() == PRETTY


def test_a_read_only_file_is_refused_and_left_as_it_was(tmp_path, capsys):
    # Even as root, who may write anything: the mode says "leave this alone".
    path = write(tmp_path, "ugly.pc", UGLY)
    os.chmod(path, 0o444)
    before = os.stat(path)
    assert main(["fmt", str(path)]) == 2
    after = os.stat(path)
    assert path.read_text() == UGLY and after.st_ino == before.st_ino
    assert stat.S_IMODE(after.st_mode) == 0o444
    err = capsys.readouterr().err
    assert err == f"pcc: error: cannot reformat {path}: it is read-only (mode 0444); left as it was " \
                  "(pcc fmt --check shows the changes)\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a file to another user needs root")
def test_another_users_file_is_refused_and_keeps_its_owner(tmp_path, capsys):
    path = write(tmp_path, "ugly.pc", UGLY)
    os.chown(path, 12345, -1)
    assert main(["fmt", str(path)]) == 2
    assert path.read_text() == UGLY and os.stat(path).st_uid == 12345
    assert "it belongs to another user (uid 12345)" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_read_but_never_renamed_over(tmp_path, capsys):
    import threading

    pipe = tmp_path / "spec.pc"
    os.mkfifo(pipe)
    writer = threading.Thread(target=pipe.write_text, args=(UGLY,))
    writer.start()
    assert main(["fmt", str(pipe)]) == 2
    writer.join()
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert "it is not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("expression", ["(" * 3000 + "2" + ")" * 3000, "-" * 5000 + "2"])
def test_a_spec_nested_too_deeply_is_a_diagnostic_and_left_alone(tmp_path, capsys, expression):
    text = f"model m {{\n  data = image(height = 2, width = 2)\n  layers = cp(units = {expression})\n}}\n"
    path = write(tmp_path, "deep.pc", text)
    assert main(["fmt", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and "error: the spec is nested too deeply" in err
    assert "internal error" not in err and path.read_text() == text


def test_a_refused_file_does_not_stop_the_others(tmp_path):
    locked = write(tmp_path, "locked.pc", UGLY)
    os.chmod(locked, 0o444)
    other = write(tmp_path, "other.pc", UGLY)
    assert main(["fmt", str(locked), str(other)]) == 2
    assert locked.read_text() == UGLY and other.read_text() == PRETTY


def test_a_read_only_file_that_is_formatted_needs_no_write(tmp_path):
    path = write(tmp_path, "pretty.pc", PRETTY)
    os.chmod(path, 0o444)
    assert main(["fmt", str(path)]) == 0
    assert main(["fmt", "--check", str(path)]) == 0


def test_check_prints_a_diff_exits_1_and_writes_nothing(tmp_path, capsys):
    path = write(tmp_path, "ugly.pc", UGLY)
    assert main(["fmt", "--check", str(path)]) == 1
    assert path.read_text() == UGLY
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"--- {path}"
    assert lines[1] == f"+++ {path} (formatted)"
    assert lines[2].startswith("@@ ")
    assert "-model m { # the model" in lines
    assert "+  layers = cp(units = 4)" in lines
    assert f"would reformat {path}" in err


def test_check_passes_on_formatted_files(tmp_path, capsys):
    path = write(tmp_path, "pretty.pc", PRETTY)
    assert main(["fmt", "--check", str(path)]) == 0
    assert capsys.readouterr() == ("", "")


def test_check_marks_a_missing_final_newline_in_the_diff(tmp_path, capsys):
    path = write(tmp_path, "spec.pc", PRETTY.rstrip("\n"))
    assert main(["fmt", "--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "-}\n\\ No newline at end of file\n+}\n" in out


def test_every_example_is_formatted():
    assert main(["fmt", "--check", *EXAMPLES]) == 0


def test_several_files_exit_with_the_worst_status(tmp_path, capsys):
    pretty = write(tmp_path, "pretty.pc", PRETTY)
    ugly = write(tmp_path, "ugly.pc", UGLY)
    assert main(["fmt", "--check", str(pretty), str(ugly)]) == 1
    assert main(["fmt", str(pretty), str(ugly)]) == 0
    assert ugly.read_text() == PRETTY
    assert main(["fmt", str(pretty), str(tmp_path / "missing.pc")]) == 2


def test_a_syntax_error_is_reported_with_its_location_and_the_file_is_left_alone(tmp_path, capsys):
    path = write(tmp_path, "broken.pc", BROKEN)
    ugly = write(tmp_path, "ugly.pc", UGLY)
    assert main(["fmt", str(path), str(ugly)]) == 1
    assert path.read_text() == BROKEN
    assert ugly.read_text() == PRETTY  # the other files are still formatted
    err = capsys.readouterr().err
    assert f"{path}:2:27: error: unexpected 'width'" in err
    assert "   2 |   data = image(height = 2 width = 2)" in err
    assert "Traceback" not in err


def test_an_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["fmt", str(tmp_path / "missing.pc")]) == 2
    assert main(["fmt", "--check", str(tmp_path)]) == 2  # a folder
    binary = tmp_path / "binary.pc"
    binary.write_bytes(b"\xff\xfe\x00model")
    assert main(["fmt", str(binary)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read {tmp_path / 'missing.pc'}" in err
    assert "Traceback" not in err


def test_stdin_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(UGLY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr() == (PRETTY, "")


def test_stdin_check(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(UGLY))
    assert main(["fmt", "--check", "-"]) == 1
    out, _ = capsys.readouterr()
    assert out.startswith("--- <stdin>\n+++ <stdin> (formatted)\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PRETTY))
    assert main(["fmt", "--check", "-"]) == 0
    assert capsys.readouterr() == ("", "")


def test_stdin_with_a_syntax_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(BROKEN))
    assert main(["fmt", "-"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "<stdin>:2:27: error:" in err


def test_stdin_may_be_given_once(capsys):
    assert main(["fmt", "-", "-"]) == 2
    assert "once" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fmt"])
    assert exit_info.value.code == 2


def test_a_formatter_bug_is_an_internal_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    # Were the printer to lose something, the self-check stops pcc before it writes.
    import pcdsl.syntax.format as formatter

    monkeypatch.delenv("PCDSL_DEBUG", raising=False)
    monkeypatch.setattr(formatter, "render", lambda document: "model m {}\n")
    path = write(tmp_path, "ugly.pc", UGLY)
    assert main(["fmt", str(path)]) == 3
    assert path.read_text() == UGLY
    err = capsys.readouterr().err
    assert "internal error: FormatterBug" in err and "Traceback" not in err


def test_a_symbolic_link_is_formatted_through(tmp_path):
    target = write(tmp_path, "target.pc", UGLY)
    link = tmp_path / "link.pc"
    link.symlink_to(target)
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink()
    assert target.read_text() == PRETTY
