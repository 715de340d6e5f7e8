"""`pcc train` and `pcc eval` (being written: see issue #5)."""

from __future__ import annotations

import argparse

from pcdsl.cli.common import error


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("train", help="(not available yet)").set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return error("pcc train is not available yet")
