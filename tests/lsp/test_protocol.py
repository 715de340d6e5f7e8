"""`pcc lsp` as a JSON-RPC peer: every request gets exactly one response, whatever the
client sends (bad params, requests before `initialize` or after `shutdown`, malformed
messages), and the problems are one line each on standard error."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcInternalError

from pcdsl.lsp.server import QUICK_VARIABLE, _answered, _LogFormatter, _logged
from tests.lsp.client import LspClient

ROOT = Path(__file__).resolve().parents[2]

INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32600, -32601, -32602, -32603
PARSE_ERROR, SERVER_NOT_INITIALIZED = -32700, -32002

TEXT = "const UNITS = 4\nmodel m {\n  data = image(height = 2, width = 2)\n  layers = cp(units = UNITS)\n}\n"
URI = "file:///virtual/protocol.pc"

# A server whose hover always raises, as a bug in the analysis would.
BROKEN_HOVER = """\
import sys
from pcdsl.lsp import analysis, server

def hover(*args):
    raise KeyError("a bug")

analysis.hover = hover
sys.exit(server.serve())
"""


def start(*command: str, **environment: str) -> LspClient:
    return LspClient([sys.executable, *command], cwd=str(ROOT),
                     env={**os.environ, QUICK_VARIABLE: "0", **environment})


def initialise(client: LspClient) -> None:
    assert "capabilities" in client.request("initialize", {"processId": None, "rootUri": None,
                                                           "capabilities": {}})
    client.notify("initialized", {})


def open_text(client: LspClient, uri: str = URI, text: str = TEXT) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "pc", "version": 1,
                                                            "text": text}})
    client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)


def at(line: Any, character: Any, uri: Any = URI) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def stop(client: LspClient) -> int:
    if client.process.poll() is None:
        client.notify("exit")
    return client.close(timeout=20)


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, LspClient]]:
    """The servers of this module, started together so that their start-ups overlap."""
    started = {"fresh": start("-m", "pcdsl", "lsp"), "broken": start("-c", BROKEN_HOVER)}
    try:
        yield started
    finally:
        for client in started.values():
            if client.process.poll() is None:
                client.process.kill()
            client.close()


# The lifecycle: before initialize (first), fuzzing, after shutdown (last) ----------------------

def test_before_initialize_requests_are_refused_and_notifications_dropped(clients):
    client = clients["fresh"]
    for method, params in [("textDocument/hover", at(0, 0)), ("shutdown", None), ("pc/unknown", {})]:
        error = client.error(method, params)
        assert error["code"] == SERVER_NOT_INITIALIZED and method in error["message"]
    client.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "pc", "version": 1,
                                                            "text": TEXT}})
    # An initialize whose params do not fit is InvalidParams, and initializes nothing.
    assert client.error("initialize", {"capabilities": 3})["code"] == INVALID_PARAMS
    assert client.error("textDocument/hover", at(0, 0))["code"] == SERVER_NOT_INITIALIZED
    initialise(client)
    # The didOpen before initialize was dropped: the document is not open.
    error = client.error("textDocument/hover", at(0, 0))
    assert error["code"] == INVALID_PARAMS and "not open" in error["message"]
    open_text(client)
    assert "constant" in client.request("textDocument/hover", at(3, 23))["contents"]["value"]


@pytest.fixture(scope="module")
def ready(clients) -> LspClient:
    """The fresh server, initialized and with ``TEXT`` open (if the test above has not done it)."""
    client = clients["fresh"]
    if client.call("textDocument/hover", at(0, 0)).get("error", {}).get("code") == SERVER_NOT_INITIALIZED:
        initialise(client)
        open_text(client)
    return client


# Invalid params, for every request the server registers --------------------------------------

POSITIONED = ["textDocument/hover", "textDocument/completion", "textDocument/definition"]
BAD_POSITIONS = [
    ({"textDocument": {"uri": URI}}, "position"),                                 # no position
    (at(-1, 0), "line"),                                                          # negative
    (at(0, -3), "character"),
    (at(2**31, 0), "line"),                                                       # past uinteger
    (at("0", 0), "line"),                                                         # wrong types
    (at(0, 1.5), "character"),
    (at(True, 0), "line"),
    (at(None, 0), "line"),
    ({"textDocument": {"uri": URI}, "position": [0, 0]}, "position"),
    ({"position": {"line": 0, "character": 0}}, "textDocument"),                  # no document
    (at(0, 0, uri=7), "uri"),
    ({"textDocument": "protocol.pc", "position": {"line": 0, "character": 0}}, "textDocument"),
    (None, "params"), ([], "params"), ("hover", "params"),
]
OPTIONS = {"tabSize": 2, "insertSpaces": True}
BAD_FORMATTING = [
    ({"textDocument": {"uri": URI}}, "options"),
    ({"textDocument": {"uri": URI}, "options": {"tabSize": "2", "insertSpaces": True}}, "tabSize"),
    ({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": 1}}, "insertSpaces"),
    ({"options": OPTIONS}, "textDocument"),
    (None, "params"),
]


@pytest.fixture(scope="module")
def server(clients) -> LspClient:
    client = clients["broken"]
    initialise(client)
    open_text(client)
    return client


@pytest.mark.parametrize("method", POSITIONED)
@pytest.mark.parametrize("params, named", BAD_POSITIONS)
def test_bad_params_of_a_positioned_request_are_invalid_params(server, method, params, named):
    error = server.error(method, params)
    assert error["code"] == INVALID_PARAMS
    assert method in error["message"] and named in error["message"]
    assert "\n" not in error["message"] and "data" not in error


@pytest.mark.parametrize("params, named", BAD_FORMATTING)
def test_bad_params_of_formatting_are_invalid_params(server, params, named):
    error = server.error("textDocument/formatting", params)
    assert error["code"] == INVALID_PARAMS and named in error["message"]


@pytest.mark.parametrize("method", POSITIONED + ["textDocument/formatting"])
def test_a_document_that_is_not_open_is_invalid_params(server, method):
    params = {**at(0, 0, uri="file:///virtual/never-opened.pc"), "options": OPTIONS}
    error = server.error(method, params)
    assert error["code"] == INVALID_PARAMS
    assert error["message"] == "file:///virtual/never-opened.pc is not open (send textDocument/didOpen first)"


def test_other_requests_get_an_error_too(server):
    assert server.error("workspace/executeCommand", {"command": "pc.nothing"})["code"] == INVALID_PARAMS
    assert server.error("workspace/executeCommand", {"arguments": []})["code"] == INVALID_PARAMS
    assert server.error("pc/unknown", {})["code"] == METHOD_NOT_FOUND
    # A notification sent as a request is not run (exit would end the server without an answer).
    for method, params in [("exit", None), ("textDocument/didClose", {"textDocument": {"uri": URI}})]:
        error = server.error(method, params)
        assert error == {"code": METHOD_NOT_FOUND, "message": f"{method} is a notification, not a request"}
    # A second initialize would forget the open documents.
    error = server.error("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert error["code"] == INVALID_REQUEST
    location = server.request("textDocument/definition", at(3, 23))
    assert location["range"]["start"] == {"line": 0, "character": 6}


def test_a_position_past_the_end_is_clamped_not_refused(server):
    # The LSP: a character past the end of its line means the end of the line.
    assert server.request("textDocument/definition", at(3, 2**31 - 1)) is None
    # A line past the end is the end of the text: after the model, a new item may start.
    labels = {item["label"] for item in server.request("textDocument/completion", at(2**31 - 1, 0))["items"]}
    assert {"model", "const"} <= labels


def test_bad_notifications_are_dropped(server):
    server.notify("textDocument/didOpen", {"textDocument": {"uri": URI}})  # no text
    other = "file:///virtual/other.pc"
    server.notify("textDocument/didChange", {"textDocument": {"uri": other, "version": 2},
                                             "contentChanges": [{"text": ""}]})
    server.notify("textDocument/didClose", {"textDocument": 5})
    server.notify("pc/unknown", {})
    # The document is as it was, and the server still answers.
    location = server.request("textDocument/definition", at(3, 23))
    assert location["range"]["start"] == {"line": 0, "character": 6}


def test_a_failing_handler_is_internal_error_in_one_line(server):
    # This server's hover raises; definition and the rest still answer.
    error = server.error("textDocument/hover", at(3, 23))
    assert error == {"code": INTERNAL_ERROR, "message": "hover failed: KeyError: 'a bug'"}
    location = server.request("textDocument/definition", at(3, 23))
    assert location["range"]["start"] == {"line": 0, "character": 6}
    assert stop(server) == 1  # exit without shutdown
    stderr = server.stderr.decode()
    assert "pcc lsp: hover failed (KeyError: 'a bug')\n" in stderr
    # The dropped notifications (above) are logged too, one line each.
    assert "pcc lsp: ignored a notification: invalid params of textDocument/didOpen: " in stderr
    assert ("pcc lsp: ignored a notification: textDocument/didChange: file:///virtual/other.pc is not open"
            in stderr)
    assert all(line.startswith("pcc lsp: ") for line in stderr.splitlines()), stderr


def test_the_traceback_of_a_failure_is_logged_only_when_debugging(monkeypatch):
    try:
        raise ValueError("a bug")
    except ValueError:
        record = logging.LogRecord("pcdsl.lsp", logging.ERROR, __file__, 1, "hover failed", None,
                                   sys.exc_info())
    monkeypatch.delenv("PCDSL_DEBUG", raising=False)
    assert _LogFormatter().format(record) == "pcc lsp: hover failed (ValueError: a bug)"
    monkeypatch.setenv("PCDSL_DEBUG", "1")
    logged = _LogFormatter().format(record)
    assert logged.startswith("pcc lsp: hover failed\nTraceback") and "ValueError: a bug" in logged


def test_handlers_turn_failures_into_a_log_line_or_internal_error(caplog):
    @_logged
    def notification() -> None:
        raise ValueError("a bug")

    @_answered
    def request() -> None:
        raise ValueError("a bug")

    notification()  # does not raise
    with pytest.raises(JsonRpcInternalError) as raised:
        request()
    assert raised.value.message == "request failed: ValueError: a bug"
    assert [r.getMessage() for r in caplog.records] == ["notification failed", "request failed"]


# Fuzzing -------------------------------------------------------------------------------------

NO_REPLY, NULL_ID = object(), object()  # what a message expects: no response, or one with a null id
KNOWN = POSITIONED + ["textDocument/formatting", "workspace/executeCommand"]


PIECES = ["model ", "m ", "{", "}", "(", ")", "[", "]", "=", ",", "*", "|", "+", " ", "\n", "\r", "\r\n",
          "# c", '"s', "\N{GRINNING FACE}", "const ", "UNITS", "structure ", "region ", "data = ",
          "image(", "height = 2", "cp(", "units = ", "x[", "0", "1.5"]


def fuzz_messages(count: int, seed: int = 7) -> list[tuple[bytes, Any]]:
    """``count`` messages (framed correctly, but otherwise anything), each with what it
    expects: a response with its id, one with a null id, or nothing."""
    rng = random.Random(seed)
    junk = [None, True, -1, 2**31, 2**64, 1.5, "0", "x", "", [], [0, 0], {}, {"line": 0}]

    def value() -> Any:
        return rng.choice(junk)

    def position() -> Any:
        return rng.choice([{"line": rng.randrange(6), "character": rng.randrange(40)},
                           {"line": value(), "character": value()}, value(), {"character": 0}])

    def params() -> Any:
        return rng.choice([at(rng.randrange(6), rng.randrange(40)), {"textDocument": {"uri": URI}},
                           {"textDocument": {"uri": value()}, "position": position()},
                           {"textDocument": {"uri": URI}, "position": position(), "options": value()},
                           {"position": position()}, {"textDocument": value()}, value()])

    messages: list[tuple[bytes, Any]] = []
    for index in range(count):
        ident = rng.choice([index, 2**53 + index, 10**30 + index, -index - 1, f"id-{index}", f"ид {index}"])
        method = rng.choice(KNOWN + ["pc/unknown", "$/unknown", "", "exit", "textDocument/didClose",
                                     "initialize"])
        request = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params()}
        kind = rng.randrange(12)
        if kind == 0:  # not JSON, or not UTF-8
            body = rng.choice([b"{", b" ", b"\xff\xfe", b'{"jsonrpc": "2.0", "id": 1,', b"nul", b"[1, 2"])
            messages.append((body, NULL_ID))
        elif kind == 1:  # JSON, but not an object
            messages.append((json.dumps(rng.choice([1, "x", None, [request], []])).encode(), NULL_ID))
        elif kind == 2:  # an id that is not an integer or a string
            messages.append((json.dumps({**request, "id": rng.choice([None, 1.5, True, [1], {}])}).encode(),
                              NULL_ID))
        elif kind == 3:  # another version of JSON-RPC, or none
            broken = {**request, "jsonrpc": rng.choice(["1.0", 2.0, None])}
            if rng.random() < 0.5:
                del broken["jsonrpc"]
            messages.append((json.dumps(broken).encode(), ident))
        elif kind == 4:  # a method that is not a string
            messages.append((json.dumps({**request, "method": value()}).encode(), ident))
        elif kind == 5:  # a notification, sensible or not
            note = rng.choice(["textDocument/didChange", "textDocument/didOpen", "textDocument/didClose",
                               "$/cancelRequest", "pc/unknown", "initialized", "$/setTrace"])
            body = {"jsonrpc": "2.0", "method": note, "params": rng.choice([params(), value()])}
            messages.append((json.dumps(body).encode(), NO_REPLY))
        elif kind == 6:  # a new text for the document, spec-like and probably broken
            text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(60)))
            change = {"textDocument": {"uri": URI, "version": index}, "contentChanges": [{"text": text}]}
            body = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": change}
            messages.append((json.dumps(body).encode(), NO_REPLY))
        elif kind in (7, 8, 9):  # a well-formed request, anywhere in (or past) the text
            request.update(method=rng.choice(KNOWN[:-1]),
                           params={**at(rng.randrange(8), rng.randrange(50)), "options": OPTIONS})
            messages.append((json.dumps(request).encode(), ident))
        else:  # a request of a known or unknown method, with params sensible or not
            messages.append((json.dumps(request, ensure_ascii=rng.random() < 0.5).encode(), ident))
    return messages


def test_a_fuzzed_server_answers_every_request_exactly_once(ready):
    client = ready
    messages = fuzz_messages(200)
    for body, _ in messages:
        client.send_body(body)
    open_text(client)  # again, in case a didClose closed it
    client.send({"jsonrpc": "2.0", "id": "last", "method": "textDocument/definition", "params": at(3, 23)})
    responses = client.responses_until("last")
    assert client.process.poll() is None
    expected_ids = [json.dumps(e) for _, e in messages if e is not NO_REPLY and e is not NULL_ID] + ['"last"']
    answered_ids = [json.dumps(r["id"]) for r in responses if r["id"] is not None]
    assert sorted(answered_ids) == sorted(expected_ids)  # one each, and none for notifications
    null_answers = [r for r in responses if r["id"] is None]
    assert len(null_answers) == sum(e is NULL_ID for _, e in messages)
    assert {r["error"]["code"] for r in null_answers} == {PARSE_ERROR, INVALID_REQUEST}
    for response in responses:
        assert ("result" in response) != ("error" in response)
        if "error" in response:  # never InternalError: no handler failed
            assert response["error"]["code"] in {PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND,
                                                 INVALID_PARAMS}
    # Still serving, with its documents: the answer to the last request is right.
    assert responses[-1]["result"]["range"]["start"] == {"line": 0, "character": 6}


def test_zz_after_shutdown_requests_are_invalid(ready):
    client = ready
    assert client.request("shutdown") is None
    for method, params in [("textDocument/hover", at(3, 23)), ("shutdown", None), ("initialize", {})]:
        error = client.error(method, params)
        assert error["code"] == INVALID_REQUEST and "after shutdown" in error["message"]
    client.notify("exit")
    assert client.close(timeout=20) == 0
    # Whatever came before, each problem was one line, and none a traceback.
    stderr = client.stderr.decode()
    assert "Traceback" not in stderr
    assert all(line.startswith("pcc lsp: ") for line in stderr.splitlines()), stderr
