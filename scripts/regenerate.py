"""Rewrite the derived tables pcdsl ships, after a change to what they are derived from:

* pcdsl/syntax/parse_tables.json, the LALR tables of grammar/pc.lark;
* pcdsl/codegen/kernel_index.py, where each kernel of pcdsl/codegen/kernels/ is;
* pcdsl/codegen/precompiled/, the templates of pcdsl/codegen/templates/ compiled by Jinja.

Each is used only while it matches its sources (tests fail until it does), so an edit
that forgets this costs speed, never correctness. A table that matches its sources is left
as it is: Lark numbers the LALR states differently on every build, so rewriting a current
one would only churn the file.

    .venv/bin/python scripts/regenerate.py
"""

from __future__ import annotations

from pathlib import Path

from pcdsl.codegen import emit, inline
from pcdsl.syntax.grammar import TABLES_PATH, shipped_tables, tables_source

if __name__ == "__main__":
    if shipped_tables() is None:
        TABLES_PATH.write_text(tables_source(), encoding="utf-8")
        print(f"wrote {TABLES_PATH}")
    else:
        print(f"{TABLES_PATH} is current")
    index_path = Path(inline.__file__).with_name("kernel_index.py")
    index_path.write_text(inline.index_source(), encoding="utf-8")
    print(f"wrote {index_path}")
    for template in sorted(emit.TEMPLATES.glob("*.j2")):
        name = emit.precompiled_module_name(template.name).rsplit(".", 1)[-1]
        path = Path(emit.__file__).with_name("precompiled") / f"{name}.py"
        path.write_text(emit.precompiled_source(template.name), encoding="utf-8")
        print(f"wrote {path}")
