"""A small Language Server Protocol client for tests: JSON-RPC messages with
``Content-Length`` framing over the pipes of a server subprocess. Every wait has a
timeout, so a silent or dead server fails a test instead of hanging it."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

TIMEOUT = 30.0  # seconds; generous for a cold start that imports the compiler


class LspError(AssertionError):
    """The server answered with an error, broke the framing, or did not answer in time."""


def encode(message: Any) -> bytes:
    return frame(json.dumps(message).encode("utf-8"))


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: BinaryIO) -> dict | None:
    """One framed message, or None at end of stream."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise LspError("a message without Content-Length")
    body = stream.read(length)
    if len(body) != length:
        return None
    return json.loads(body.decode("utf-8"))


class LspClient:
    def __init__(self, command: Sequence[str], cwd: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.inbox: queue.Queue[dict | None] = queue.Queue()
        self.notifications: list[dict] = []
        self.responses: dict[int, dict] = {}
        self.next_id = 0
        self.stderr = b""
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._drain_stderr, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while (message := read_message(self.process.stdout)) is not None:
                self.inbox.put(message)
        finally:
            self.inbox.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr += line

    def send(self, message: Any) -> None:
        self.send_body(json.dumps(message).encode("utf-8"))

    def send_body(self, body: bytes) -> None:
        """Send one framed message whose body is ``body``, JSON or not."""
        assert self.process.stdin is not None
        self.process.stdin.write(frame(body))
        self.process.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> Any:
        """Send a request and wait for its response; the ``result``, or ``LspError``."""
        response = self.call(method, params, timeout)
        if "error" in response:
            raise LspError(f"{method} failed: {response['error']}")
        return response.get("result")

    def call(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> dict:
        """Send a request and wait for its response; the whole response (a result or an error)."""
        self.next_id += 1
        ident = self.next_id
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        return self.response(ident, timeout)

    def error(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> dict:
        """Send a request that must fail; the response's ``error`` (code and message)."""
        response = self.call(method, params, timeout)
        if "error" not in response:
            raise LspError(f"{method} answered {response.get('result')!r}, not an error")
        return response["error"]

    def response(self, ident: int | str | None, timeout: float = TIMEOUT) -> dict:
        """The next response with id ``ident`` (None: a response to a message whose id was unusable)."""
        return self._wait(lambda m: "id" in m and m["id"] == ident and "method" not in m, timeout,
                          f"a response with id {ident!r}")

    def responses_until(self, ident: int | str, timeout: float = TIMEOUT) -> list[dict]:
        """Every response that comes in, up to and including the one with id ``ident``."""
        responses: list[dict] = []

        def collect(message: dict) -> bool:
            if "method" in message:
                return False
            responses.append(message)
            return message.get("id") == ident

        self._wait(collect, timeout, f"a response with id {ident!r}")
        return responses

    def wait_notification(self, method: str, predicate: Callable[[dict], bool] = lambda p: True,
                          timeout: float = TIMEOUT) -> dict:
        """The params of the first notification ``method`` (already received or still to
        come) that satisfies ``predicate``; it is consumed."""
        for index, message in enumerate(self.notifications):
            if message["method"] == method and predicate(message.get("params")):
                return self.notifications.pop(index)["params"]
        message = self._wait(lambda m: m.get("method") == method and "id" not in m
                             and predicate(m.get("params")), timeout, f"a {method} notification")
        return message["params"]

    def _wait(self, wanted: Callable[[dict], bool], timeout: float, what: str) -> dict:
        while True:
            try:
                message = self.inbox.get(timeout=timeout)
            except queue.Empty:
                raise LspError(f"no {what} within {timeout} s; stderr:\n{self.stderr.decode()}") from None
            if message is None:
                raise LspError(f"the server closed its output before {what}; "
                               f"stderr:\n{self.stderr.decode()}")
            if wanted(message):
                return message
            if "method" in message and "id" in message:  # a request from the server: decline it
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "method" in message:
                self.notifications.append(message)

    def close(self, timeout: float = 10.0) -> int:
        """Wait for the process to end (killing it after ``timeout``); its exit status."""
        try:
            if self.process.stdin is not None and not self.process.stdin.closed:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            raise LspError("the server did not exit") from None
        for thread in self.threads:  # so that `stderr` is complete
            thread.join(timeout=timeout)
        return status
