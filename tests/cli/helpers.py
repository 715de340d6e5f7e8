"""What the CLI tests share: one in-process run of `pcc`."""

from __future__ import annotations

from pcdsl.cli.main import main


def pcc(capsys, *args: str) -> tuple[int, str, str]:
    """Exit status, standard output and standard error of one in-process run."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err
