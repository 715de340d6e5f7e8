"""What `pcc` says to a mistyped command line: the command or flag it was closest to,
with the usage of the command the mistake was made in, exit 2 and no traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.cli.helpers import in_tmp, pcc, write  # noqa: F401  (in_tmp: autouse fixture)

SPEC = """\
model m {
  data = image(height = 2, width = 2)
}
"""


def test_a_misspelt_command_before_a_file_is_named_with_the_closest_command(capsys):
    write("spec.pc", SPEC)
    status, out, err = pcc(capsys, "chek", "spec.pc")
    assert status == 2 and out == ""
    assert "unknown command 'chek', did you mean 'check'?" in err
    assert "unrecognized arguments" not in err


def test_a_lone_word_close_to_a_command_is_neither_read_as_a_file_nor_compiled(capsys):
    status, _, err = pcc(capsys, "trian")
    assert status == 2
    assert "unknown command or file 'trian', did you mean 'train'?" in err
    assert "cannot read" not in err


def test_an_existing_file_named_like_a_command_is_compiled(capsys):
    write("trian", SPEC)
    status, _, err = pcc(capsys, "trian", "-o", "-")
    assert status == 0, err


def test_an_unknown_word_before_a_file_lists_the_commands(capsys):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "frobnicate", "spec.pc")
    assert status == 2
    assert "unknown command 'frobnicate'" in err and "check, compile" in err


@pytest.mark.parametrize("name", ["nothere.pc", "chek.pc", "specs/check"])
def test_a_missing_file_alone_is_still_reported_as_unreadable(capsys, name):
    # A name with a suffix or a folder is a file's, even when close to a command.
    status, _, err = pcc(capsys, name)
    assert status == 2 and f"cannot read {name}" in err and "did you mean" not in err


@pytest.mark.parametrize(("argv", "wrong", "right"), [
    (("train", "--train_limit", "100", "spec.pc"), "--train_limit", "--train-limit"),
    (("check", "--max-param", "3", "spec.pc"), "--max-param", "--max-params"),
    (("graph", "spec.pc", "-o", "g.dot", "--max_nodes", "3"), "--max_nodes", "--max-nodes"),
    (("fmt", "--chek", "spec.pc"), "--chek", "--check"),
    (("info", "spec.pc", "--jsno"), "--jsno", "--json"),
])
def test_a_misspelt_flag_gets_its_commands_usage_and_the_closest_flag(capsys, argv, wrong, right):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, *argv)
    assert status == 2
    assert err.startswith(f"usage: pcc {argv[0]} ")
    assert f"unknown option '{wrong}', did you mean '{right}'?" in err


@pytest.mark.parametrize(("argv", "wrong", "right"), [
    (("--verison",), "--verison", "--version"),
    (("check", "--max-param", "3"), "--max-param", "--max-params"),  # and no FILE
    (("learn", "chow-liu", "--dataste", "mnist", "--data-root", ".", "-o", "t.json"),
     "--dataste", "--dataset"),  # --dataset is required
    (("--output=x.py", "--modle", "m"), "--modle", "--model"),
])
def test_a_misspelt_flag_is_named_before_a_missing_argument(capsys, argv, wrong, right):
    status, _, err = pcc(capsys, *argv)
    assert status == 2
    assert f"unknown option '{wrong}', did you mean '{right}'?" in err
    assert "arguments are required" not in err


def test_an_abbreviated_flag_is_refused_with_the_full_name(capsys):
    # An abbreviation would change meaning when a flag with the same prefix is added.
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "check", "--max-p", "3", "spec.pc")
    assert status == 2 and "did you mean '--max-params'?" in err


def test_a_flag_like_no_other_lists_the_commands_flags(capsys):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "check", "--zzz", "spec.pc")
    assert status == 2
    assert "unknown option '--zzz'; the options of 'pcc check' are: --format" in err


def test_a_stray_positional_is_reported_under_its_command(capsys):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "info", "spec.pc", "extra")
    assert status == 2
    assert err.startswith("usage: pcc info") and "unrecognized arguments: extra" in err


@pytest.mark.parametrize(("argv", "suggestion"), [
    (("learn", "chow-lu"), "did you mean 'chow-liu'?"),
    (("learn", "chow-liu", "--dataset", "fashon-mnist", "--data-root", ".", "-o", "t.json"),
     "did you mean 'fashion-mnist'?"),
    (("check", "--format", "githbu", "spec.pc"), "did you mean 'github'?"),
])
def test_a_misspelt_choice_names_the_closest_choice(capsys, argv, suggestion):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, *argv)
    assert status == 2 and "invalid choice" in err and suggestion in err


@pytest.mark.parametrize("command", ["check", "compile", "info"])
def test_a_400_digit_integer_is_a_located_range_error_not_a_crash(capsys, command):
    # It used to reach a float conversion in a lint: OverflowError, exit 3.
    write("big.pc", SPEC.replace("width = 2", f"width = 2)\n  layers = cp(units = {'9' * 400}"))
    status, _, err = pcc(capsys, command, "big.pc", *(["-o", "-"] if command == "compile" else []))
    assert status == 1
    assert "big.pc:3:23: error: the integer 999999999999…999999999999 (400 characters) is out of range" in err
    assert "integers are at most 9223372036854775807" in err and "internal error" not in err
    assert max(map(len, err.splitlines())) < 140  # the source line is shown as a window


# Output files ------------------------------------------------------------------------------

def test_compiling_a_spec_over_itself_is_refused(capsys):
    write("self.pc", SPEC)
    os.symlink("self.pc", "link.pc")
    for output in ("self.pc", "./self.pc", "link.pc"):
        status, _, err = pcc(capsys, "self.pc", "-o", output)
        assert status == 2
        assert err == (f"pcc: error: refusing to write over self.pc, which this command reads "
                       f"(-o {output}): name another output file\n")
    assert Path("self.pc").read_text() == SPEC


def test_a_spec_named_like_its_module_is_not_overwritten_by_default(capsys):
    write("model.py", SPEC)  # the default output is the spec's name with .py: itself
    status, _, err = pcc(capsys, "compile", "model.py")
    assert status == 2 and "refusing to write over model.py" in err
    assert Path("model.py").read_text() == SPEC


def test_graph_over_its_spec_is_refused(capsys):
    write("spec.dot", SPEC)  # a spec may have any name
    status, _, err = pcc(capsys, "graph", "spec.dot", "-o", "spec.dot")
    assert status == 2 and "refusing to write over spec.dot" in err
    assert Path("spec.dot").read_text() == SPEC


@pytest.mark.parametrize("command", [("compile", "spec.pc"), ("graph", "spec.pc")])
def test_output_into_a_missing_folder_or_onto_a_folder_is_one_line(capsys, command):
    write("spec.pc", SPEC)
    os.mkdir("folder.dot")
    status, _, err = pcc(capsys, *command, "-o", "missing/out.dot")
    assert (status, err) == (2, "pcc: error: cannot write missing/out.dot: there is no folder missing\n")
    status, _, err = pcc(capsys, *command, "-o", "folder.dot")
    assert (status, err) == (2, "pcc: error: cannot write folder.dot: it is a folder; name a file, "
                                "e.g. -o folder.dot/FILE\n")
    assert os.listdir("folder.dot") == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_is_one_line_and_the_device_stays_a_device(capsys):
    # Renaming a temporary file over /dev/full (as root) would replace the device itself.
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "spec.pc", "-o", "/dev/full")
    assert (status, err) == (2, "pcc: error: cannot write /dev/full: No space left on device\n")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_device_output_is_written_in_place(capsys):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, "spec.pc", "-o", os.devnull)
    assert status == 0, err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_into_a_read_only_folder_is_one_line(capsys):
    write("spec.pc", SPEC)
    os.mkdir("locked", 0o555)
    status, _, err = pcc(capsys, "spec.pc", "-o", "locked/m.py")
    assert (status, err) == (2, "pcc: error: cannot write locked/m.py: Permission denied\n")
    assert os.listdir("locked") == []


# pcc learn's data ---------------------------------------------------------------------------

LEARN = ("learn", "chow-liu", "--dataset", "mnist", "--data-root", "data", "-o", "tree.json")


def test_learn_without_the_data_set_says_where_it_looked_and_what_to_do(capsys):
    status, _, err = pcc(capsys, *LEARN)
    assert status == 2 and len(err.splitlines()) == 1
    assert err == ("pcc: error: cannot read the mnist data set under data: not found (torchvision "
                   f"looked in {os.path.join('data', 'MNIST', 'raw')}); point --data-root at it, "
                   "or add --download (needs internet)\n")
    assert not os.path.exists("tree.json")


def test_learn_from_damaged_files_is_one_line_naming_the_folder(capsys):
    raw = Path("data", "MNIST", "raw")
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03 not an IDX header")
    status, _, err = pcc(capsys, *LEARN)
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"pcc: error: cannot read the mnist files in {raw}")
    assert not os.path.exists("tree.json")


@pytest.mark.parametrize(("flag", "value"), [("--bins", "0"), ("--limit", "-1"), ("--bins", "1e999")])
def test_learn_numbers_are_checked_before_any_data_is_read(capsys, flag, value):
    status, _, err = pcc(capsys, *LEARN, flag, value)
    assert status == 2 and f"argument {flag}: expected a positive integer, found" in err


@pytest.mark.parametrize(("argv", "words"), [
    (("check", "--max-params", "1e999", "spec.pc"), "argument --max-params: expected a positive integer"),
    (("check", "--max-layers", "-1", "spec.pc"), "argument --max-layers: expected a positive integer"),
    (("graph", "spec.pc", "-o", "-", "--max-nodes", "-1"), "argument --max-nodes: expected an integer "
                                                           "of at least 0, found -1"),
    (("graph", "spec.pc", "-o", "-", "--max-nodes", "1e999"), "argument --max-nodes: expected an "
                                                              "integer of at least 0, found '1e999'"),
    (("graph", "spec.pc", "-o", "-", "--timeout", "inf"), "argument --timeout: expected a positive "
                                                          "number of seconds, found 'inf'"),
    (("graph", "spec.pc", "-o", "-", "--timeout", "nan"), "found 'nan'"),
])
def test_malformed_flag_numbers_are_usage_errors(capsys, argv, words):
    write("spec.pc", SPEC)
    status, _, err = pcc(capsys, *argv)
    assert status == 2 and words in err and "internal error" not in err


def test_a_huge_budget_is_a_budget_like_any_other(capsys):
    write("spec.pc", SPEC)
    status, out, _ = pcc(capsys, "check", "--max-params", "9" * 30, "spec.pc")
    assert status == 0 and out == "spec.pc: ok\n"


# Bad input paths -------------------------------------------------------------------------

def _bad_input(kind: str) -> tuple[str, str]:
    """A path of the given kind and the reason `pcc` gives for not reading it."""
    if kind == "missing":
        return "missing.pc", "No such file or directory"
    if kind == "folder":
        os.mkdir("folder.pc")
        return "folder.pc", "Is a directory"
    Path("binary.pc").write_bytes(b"\xff\xfe\x00model")
    return "binary.pc", "'utf-8' codec can't decode byte 0xff"


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
@pytest.mark.parametrize("command", [(), ("compile",), ("check",), ("info",), ("fmt",), ("fmt", "--check"),
                                     ("graph", "-o", "g.dot")])
def test_an_unreadable_spec_is_one_line_naming_it_and_exit_2(capsys, command, kind):
    path, reason = _bad_input(kind)
    status, _, err = pcc(capsys, *command, path)
    assert status == 2
    message = [line for line in err.splitlines() if "cannot read" in line]
    assert len(message) == 1 and f"cannot read {path}: {reason}" in message[0]
    assert "internal error" not in err and "Traceback" not in err
    assert not os.path.exists("g.dot")
