"""Rewrite the derived tables pcdsl ships, after a change to what they are derived from:

* pcdsl/syntax/parse_tables.py, the LALR tables of grammar/pc.lark;
* pcdsl/codegen/kernel_index.py, where each kernel of pcdsl/codegen/kernels/ is.

Both are used only while they match their sources (tests fail until they do), so an edit
that forgets this costs speed, never correctness.

    .venv/bin/python scripts/regenerate.py
"""

from __future__ import annotations

from pathlib import Path

from pcdsl.codegen import inline
from pcdsl.syntax.grammar import TABLES_PATH, tables_source

if __name__ == "__main__":
    index_path = Path(inline.__file__).with_name("kernel_index.py")
    for path, text in ((TABLES_PATH, tables_source()), (index_path, inline.index_source())):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
