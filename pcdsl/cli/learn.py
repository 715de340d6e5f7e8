"""`pcc learn` (being written: see issue #3)."""

from __future__ import annotations

import argparse

from pcdsl.cli.common import error


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("learn", help="(not available yet)").set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return error("pcc learn is not available yet")
