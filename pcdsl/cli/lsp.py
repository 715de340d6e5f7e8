"""`pcc lsp`: the language server (diagnostics, hover, completion, go to definition,
formatting) over standard input and output, for editors; see docs/editors.md. The server
itself lives in ``pcdsl.lsp``."""

from __future__ import annotations

import argparse

from pcdsl.cli.common import error


def register(commands: argparse._SubParsersAction) -> None:
    lsp = commands.add_parser(
        "lsp", help="run the language server (LSP over stdio) for editors",
        description="Speak the Language Server Protocol on standard input and output until the "
                    "editor says exit. Editors start it themselves; see docs/editors.md.")
    # vscode-languageclient (and some other clients) pass --stdio; it is the only transport.
    lsp.add_argument("--stdio", action="store_true", help="use standard input and output (the default)")
    lsp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from pcdsl.lsp.server import serve
    except ImportError as exc:  # pygls or lsprotocol missing from this environment
        return error(f"the language server needs pygls 2: {exc}")
    return serve()
