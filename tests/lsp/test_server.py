"""`pcc lsp` end to end: a client speaking JSON-RPC with Content-Length framing over the
pipes of `python -m pcdsl lsp`, as an editor does. One server serves the whole module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_file, compile_source
from pcdsl.lsp.server import QUICK_VARIABLE
from pcdsl.syntax import schema
from pcdsl.syntax.format import format_source
from tests.lsp.client import LspClient

ROOT = Path(__file__).resolve().parents[2]
MNIST = (ROOT / "examples" / "mnist.pc").read_text(encoding="utf-8")
HAND_WRITTEN = (ROOT / "examples" / "hand_written.pc").read_text(encoding="utf-8")

# 'units' of cp out of range: line 3 (0-based 2), the value `0` at characters 22..23.
OUT_OF_RANGE = """\
model m {
  data = image(height = 2, width = 2)
  layers = cp(units = 0)
}
"""
SYNTAX_ERROR = "model m {\n  data = image(height = 2 width = 2)\n}\n"
UNUSED = "const UNITS = 64\nmodel m {\n  data = image(height = 2, width = 2)\n}\n"


def start(**environment: str) -> LspClient:
    return LspClient([sys.executable, "-m", "pcdsl", "lsp"], cwd=str(ROOT),
                     env={**os.environ, **environment})


def initialise(client: LspClient) -> LspClient:
    result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.capabilities = result["capabilities"]
    client.notify("initialized", {})
    return client


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LspClient, LspClient]]:
    """Two servers, started together so that their start-ups overlap: one as editors run
    it, and one that never waits for lowering (``QUICK_VARIABLE`` = 0)."""
    clients = (start(), start(**{QUICK_VARIABLE: "0"}))
    try:
        yield clients
    finally:
        for client in clients:
            if client.process.poll() is None:
                client.process.kill()
            client.close()


@pytest.fixture(scope="module")
def server(servers) -> LspClient:
    return initialise(servers[0])


@pytest.fixture(scope="module")
def impatient_server(servers) -> LspClient:
    return initialise(servers[1])


_versions: dict[str, int] = {}


def open_document(server: LspClient, name: str, text: str) -> tuple[str, dict]:
    """Open (or reopen) a document; its uri and the diagnostics published for it."""
    uri = f"file:///virtual/{name}"
    version = _versions[uri] = _versions.get(uri, 0) + 1
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "pc", "version": version, "text": text}})
    return uri, diagnostics_for(server, uri, version)


def change_document(server: LspClient, uri: str, text: str) -> dict:
    version = _versions[uri] = _versions[uri] + 1
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})
    return diagnostics_for(server, uri, version)


def diagnostics_for(server: LspClient, uri: str, version: int) -> dict:
    return server.wait_notification("textDocument/publishDiagnostics",
                                    lambda p: p["uri"] == uri and p.get("version") == version)


def at(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def span(start_line: int, start: int, end_line: int, end: int) -> dict:
    return {"start": {"line": start_line, "character": start}, "end": {"line": end_line, "character": end}}


# Initialisation --------------------------------------------------------------------------

def test_capabilities(server):
    capabilities = server.capabilities
    sync = capabilities["textDocumentSync"]
    assert (sync if isinstance(sync, int) else sync["change"]) == 1  # full document sync
    assert capabilities["hoverProvider"]
    assert capabilities["definitionProvider"]
    assert capabilities["documentFormattingProvider"]
    assert "(" in capabilities["completionProvider"]["triggerCharacters"]


# Diagnostics -----------------------------------------------------------------------------

def test_did_open_publishes_an_error_at_its_range(server):
    _, published = open_document(server, "range.pc", OUT_OF_RANGE)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["range"] == span(2, 22, 2, 23)
    assert diagnostic["severity"] == 1  # Error
    assert diagnostic["message"].startswith("'units' of 'cp' must be at least 1, found 0")
    assert diagnostic["source"] == "pcc"
    assert diagnostic["code"] == "range"


def test_a_syntax_error_is_published_at_the_unexpected_token(server):
    _, published = open_document(server, "syntax.pc", SYNTAX_ERROR)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["range"] == span(1, 26, 1, 31)  # `width`
    assert "unexpected 'width'" in diagnostic["message"]
    assert "help: expected" in diagnostic["message"]


def test_warnings_are_published_as_warnings(server):
    _, published = open_document(server, "unused.pc", UNUSED)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["severity"] == 2  # Warning
    assert diagnostic["range"] == span(0, 6, 0, 11)  # `UNITS`
    assert "never used" in diagnostic["message"]


def test_did_change_republishes(server):
    uri, published = open_document(server, "change.pc", OUT_OF_RANGE)
    assert len(published["diagnostics"]) == 1
    assert change_document(server, uri, OUT_OF_RANGE.replace("units = 0", "units = 4"))["diagnostics"] == []
    broken = change_document(server, uri, SYNTAX_ERROR)["diagnostics"]
    assert [d["range"] for d in broken] == [span(1, 26, 1, 31)]


def test_ranges_count_utf16_code_units(server):
    # `"😀"` is three characters but four UTF-16 code units (the emoji is a surrogate pair).
    text = 'const S = "\N{GRINNING FACE}" + 1\nmodel m {\n  data = image(height = 2, width = 2)\n}\n'
    _, published = open_document(server, "utf16.pc", text)
    (diagnostic,) = published["diagnostics"]
    assert "expected a number, found a string" in diagnostic["message"]
    assert diagnostic["range"] == span(0, 10, 0, 14)


# Line endings and code units ------------------------------------------------------------

# 0-based lines: a comment, the constant, the model: `width = 0` out of range at 3:35, a use of
# UNITS at 4:22..27.
LINES = ["# line endings", "const UNITS = 4", "model m {", "  data = image(height = 2, width = 0)",
         "  layers = cp(units = UNITS)", "}", ""]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_each_line_ending_gives_the_positions_of_pcc_check(server, tmp_path, newline):
    # The LSP's line terminators are \n, \r\n and \r; `pcc check` reads files with universal
    # newlines: both count the same lines.
    text = newline.join(LINES)
    uri, published = open_document(server, f"newline{len(newline)}{newline == chr(13)}.pc", text)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["range"] == span(3, 35, 3, 36)
    path = tmp_path / "newlines.pc"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(CompileError) as raised:
        compile_file(str(path))
    (checked,) = raised.value.diagnostics
    assert (checked.span.line, checked.span.column) == (3 + 1, 35 + 1)  # 1-based
    # Hover and definition at the use of UNITS on line 4 point at its declaration on line 1.
    location = server.request("textDocument/definition", at(uri, 4, 23))
    assert location["range"] == span(1, 6, 1, 11)
    hover = server.request("textDocument/hover", at(uri, 4, 23))
    assert "const UNITS = 4" in hover["contents"]["value"] and hover["range"] == span(4, 22, 4, 27)
    # Formatting replaces the whole text: seven lines, the last one empty; in `pcc fmt`'s layout.
    (edit,) = server.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                         "options": {"tabSize": 2, "insertSpaces": True}})
    assert edit["range"] == span(0, 0, 6, 0)
    assert edit["newText"] == format_source("\n".join(LINES))


def test_hover_and_definition_count_utf16_code_units(server):
    # Before `UNITS` on line 1: the emoji is one character but two UTF-16 code units, and `é` one
    # of each, so `UNITS` starts at character 27 (26 code points).
    text = ('const UNITS = 4\nconst S = "\N{GRINNING FACE}\xe9"  const T = UNITS\n'
            "model m {\n  data = image(height = 2, width = 2)\n  layers = cp(units = T + S)\n}\n")
    uri, _ = open_document(server, "utf16-hover.pc", text)
    hover = server.request("textDocument/hover", at(uri, 1, 27))
    assert "const UNITS = 4" in hover["contents"]["value"] and hover["range"] == span(1, 27, 1, 32)
    assert server.request("textDocument/definition", at(uri, 1, 31))["range"] == span(0, 6, 0, 11)
    # Character 26 is the space before `UNITS` (counting code points, it would be the `U`).
    assert server.request("textDocument/hover", at(uri, 1, 26)) is None


# Hover -----------------------------------------------------------------------------------

def test_hover_on_a_model_name_shows_parameters_and_properties(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    line = MNIST.splitlines().index("model mnist {")
    hover = server.request("textDocument/hover", at(uri, line, 8))
    value = hover["contents"]["value"]
    model = compile_source(MNIST, "mnist.pc", fold=False).models[0]
    assert f"parameters: {model.circuit.num_parameters:,}" in value
    assert "25,657,730" in value
    assert "- smooth: yes" in value
    assert "- decomposable: yes" in value
    assert "- structured-decomposable: no" in value
    assert hover["range"] == span(line, 6, line, 11)


def test_hover_on_a_kind_shows_its_documentation(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    line, text = next((i, t) for i, t in enumerate(MNIST.splitlines()) if "cp(" in t)
    hover = server.request("textDocument/hover", at(uri, line, text.index("cp(") + 1))
    value = hover["contents"]["value"]
    assert schema.kind_named("cp").doc in value
    assert "`units`" in value


def test_hover_on_a_setting_and_a_keyword(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    lines = MNIST.splitlines()
    line = next(i for i, t in enumerate(lines) if t.strip().startswith("regions"))
    value = server.request("textDocument/hover", at(uri, line, 3))["contents"]["value"]
    assert schema.setting_named("regions").doc in value
    line = lines.index("const UNITS = 64")
    value = server.request("textDocument/hover", at(uri, line, 2))["contents"]["value"]
    assert "keyword" in value


def test_hover_on_nothing_is_null(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    assert server.request("textDocument/hover", at(uri, 0, 3)) is None  # inside a comment


# Completion ------------------------------------------------------------------------------

def labels(result) -> list[str]:
    items = result["items"] if isinstance(result, dict) else result
    return [item["label"] for item in items]


def test_completion_of_kinds_after_a_setting(server):
    text = "model m {\n  data = image(height = 2, width = 2)\n  regions = \n}\n"
    uri, _ = open_document(server, "complete.pc", text)
    found = labels(server.request("textDocument/completion", at(uri, 2, 12)))
    assert set(found) == set(schema.kinds_of("region_graph"))


def test_completion_of_option_names_inside_a_call(server):
    text = "model m {\n  data = image(height = 2, )\n}\n"
    uri, _ = open_document(server, "options.pc", text)
    result = server.request("textDocument/completion", at(uri, 1, 27))
    found = labels(result)
    assert "width" in found and "channels" in found and "height" not in found
    width = next(item for item in result["items"] if item["label"] == "width")
    assert width["insertText"] == "width = "


def test_completion_of_settings_and_keywords_in_a_model(server):
    text = "model m {\n  data = image(height = 2, width = 2)\n  \n}\n"
    uri, _ = open_document(server, "settings.pc", text)
    found = labels(server.request("textDocument/completion", at(uri, 2, 2)))
    assert {"regions", "layers", "inputs", "const", "structure"} <= set(found)
    assert "data" not in found  # already set


def test_completion_of_option_values(server):
    text = "model m {\n  weights = softmax(init = )\n}\n"
    uri, _ = open_document(server, "values.pc", text)
    found = labels(server.request("textDocument/completion", at(uri, 1, 27)))
    assert set(found) == set(schema.kinds_of("initializer"))


# Definition ------------------------------------------------------------------------------

def test_definition_of_a_constant(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    lines = MNIST.splitlines()
    line = next(i for i, t in enumerate(lines) if "categorical(units = UNITS)" in t)
    location = server.request("textDocument/definition", at(uri, line, lines[line].index("UNITS") + 2))
    declaration = lines.index("const UNITS = 64")
    assert location["uri"] == uri
    assert location["range"] == span(declaration, 6, declaration, 11)


def test_definition_of_a_region(server):
    uri, _ = open_document(server, "hand_written.pc", HAND_WRITTEN)
    lines = HAND_WRITTEN.splitlines()
    use = next(i for i, t in enumerate(lines) if "region root" in t)
    location = server.request("textDocument/definition", at(uri, use, lines[use].index("front") + 1))
    declaration = next(i for i, t in enumerate(lines) if "region front" in t)
    start = lines[declaration].index("front")
    assert location["range"] == span(declaration, start, declaration, start + len("front"))


# Formatting ------------------------------------------------------------------------------

def apply_edits(text: str, edits: list[dict]) -> str:
    """Apply whole-document or line-range edits (ranges in this ASCII text are characters)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(position: dict) -> int:
        return min(offsets[min(position["line"], len(lines))] + position["character"], len(text))

    for edit in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        text = text[:offset(edit["range"]["start"])] + edit["newText"] + text[offset(edit["range"]["end"]):]
    return text


def test_formatting_gives_the_canonical_layout(server):
    text = "model m { # m\ndata=image(height=2,width=2) layers=cp(units=4,) }"
    uri, _ = open_document(server, "format.pc", text)
    edits = server.request("textDocument/formatting",
                           {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}})
    assert apply_edits(text, edits) == format_source(text)


def test_formatting_a_formatted_or_broken_file_changes_nothing(server):
    uri, _ = open_document(server, "mnist.pc", MNIST)
    options = {"tabSize": 2, "insertSpaces": True}
    assert server.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) == []
    uri, _ = open_document(server, "syntax.pc", SYNTAX_ERROR)
    assert not server.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options})


# Robustness ------------------------------------------------------------------------------

BROKEN_TEXTS = [
    "", "\n\n", "model", "model m {", "model m { data = image(", "model m { data = image(height = ",
    "}}}}", "((((", "model m { structure { region a = x[ } }", "const = = =", '"unterminated',
    "model m { data = image(height = 2, width = 2) }\x00\x01", "# only a comment",
    "model \N{GRINNING FACE} { data = \N{GREEK SMALL LETTER ALPHA} }",
    "model m { layers = cp(units = 1 / 0) }",
    "model m { data = variables(count = 2, values = 2) structure { region a = a * x[0] } }",
]


@pytest.mark.parametrize("index", range(len(BROKEN_TEXTS)))
def test_every_request_survives_broken_text(server, index):
    text = BROKEN_TEXTS[index]
    uri, published = open_document(server, f"broken{index}.pc", text)
    assert isinstance(published["diagnostics"], list)
    lines = text.split("\n")
    positions = {(0, 0), (len(lines) - 1, len(lines[-1])), (len(lines) + 3, 99)}
    positions |= {(0, c) for c in range(0, len(lines[0]) + 2, 3)}
    for line, character in sorted(positions):
        server.request("textDocument/hover", at(uri, line, character))
        server.request("textDocument/completion", at(uri, line, character))
        server.request("textDocument/definition", at(uri, line, character))
    server.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                               "options": {"tabSize": 2, "insertSpaces": True}})
    assert server.process.poll() is None


# Shutdown (last: it ends the module's server) -----------------------------------------------

def test_zz_shutdown_and_exit(server):
    assert server.request("shutdown") is None
    server.notify("exit")
    assert server.close(timeout=20) == 0
    # No handler failed along the way (a failure is logged, and answered with InternalError).
    assert b"Traceback" not in server.stderr and b"failed" not in server.stderr, server.stderr.decode()


# A slow compilation ----------------------------------------------------------------------

NOT_SMOOTH = """\
model bad {
  data = variables(count = 3, values = 2)
  structure {
    region ab   = x[0] * x[1]
    region root = ab * x[2] | x[0] * x[2]
  }
}
"""


def test_a_slow_compilation_publishes_the_checkers_diagnostics_first(impatient_server):
    # With no time to wait for lowering, the server publishes what the parser and checker
    # found at once, then the structure error when the compilation ends.
    client = impatient_server
    uri, first = open_document(client, "slow.pc", NOT_SMOOTH)
    assert first["diagnostics"] == []
    second = diagnostics_for(client, uri, _versions[uri])
    (diagnostic,) = second["diagnostics"]
    assert "not smooth" in diagnostic["message"]
    assert diagnostic["range"]["start"] == {"line": 4, "character": 4}
    hover = client.request("textDocument/hover", at(uri, 0, 7))
    assert "- smooth: no" in hover["contents"]["value"]
    assert client.request("shutdown") is None
    client.notify("exit")
    assert client.close(timeout=20) == 0
