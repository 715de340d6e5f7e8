"""Locate and load the Lark grammar (``grammar/pc.lark``)."""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark

GRAMMAR_NAME = "pc.lark"


def grammar_path() -> Path:
    """The grammar shipped inside the package, else the repository's ``grammar/`` folder."""
    packaged = Path(__file__).resolve().parent.parent / "grammar" / GRAMMAR_NAME
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME


def grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")


@functools.cache
def lark_parser() -> Lark:
    # LALR: linear time, and its errors name the one token that cannot follow.
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )
