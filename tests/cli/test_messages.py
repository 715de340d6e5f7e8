"""What `pcc` says to a mistyped command line: the command or flag it was closest to,
with the usage of the command the mistake was made in, exit 2 and no traceback."""

from __future__ import annotations

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


def test_a_missing_file_alone_is_still_reported_as_unreadable(capsys):
    status, _, err = pcc(capsys, "nothere.pc")
    assert status == 2 and "cannot read nothere.pc" in err


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
