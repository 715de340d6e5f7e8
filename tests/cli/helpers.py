"""What the CLI tests share: one in-process run of `pcc`, and an empty working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcdsl.cli.main import main


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run every command of a module that imports this from an empty folder (so relative
    paths name files there), without the debugging tracebacks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PCDSL_DEBUG", raising=False)
    return tmp_path


def write(name: str, text: str) -> str:
    """Write ``text`` to the file ``name`` of the working folder; its name."""
    Path(name).write_text(text, encoding="utf-8")
    return name


def pcc(capsys, *args: str) -> tuple[int, str, str]:
    """Exit status, standard output and standard error of one in-process run."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err
