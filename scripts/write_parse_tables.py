"""Rewrite pcdsl/syntax/parse_tables.py, the shipped LALR tables, after a grammar change.

    .venv/bin/python scripts/write_parse_tables.py
"""

from __future__ import annotations

from pcdsl.syntax.grammar import TABLES_PATH, tables_source

if __name__ == "__main__":
    TABLES_PATH.write_text(tables_source(), encoding="utf-8")
    print(f"wrote {TABLES_PATH}")
