"""``pcc lsp``: the Language Server Protocol over stdio, with pygls.

Features: diagnostics (published on open and change; full document sync), hover,
completion, go to definition and formatting. The answers come from
``pcdsl.lsp.analysis`` and ``pcdsl.syntax.format``; this module converts between LSP and
pcdsl positions (a document's text is read with ``normalize_newlines``, as ``pcc check``
reads a file).

Every request gets exactly one response (``PcProtocol``): params that do not fit the
method's LSP type, or name a document that is not open, are answered with InvalidParams;
a request before ``initialize`` with ServerNotInitialized and one after ``shutdown`` with
InvalidRequest; a handler that raises with InternalError. Each such problem is one line on
standard error (with the traceback when ``$PCDSL_DEBUG`` is set); pygls's own logging is
silenced unless ``$PCDSL_DEBUG`` is set.

Compiling a spec (lowering and the structure passes) takes well under a second for the
usual models but can take much longer for large images, so it runs on a background
thread: a change waits for it up to ``QUICK_SECONDS`` (or ``$PCDSL_LSP_QUICK_SECONDS``),
and past that publishes the parser's and checker's diagnostics at once and the full ones
when the compilation ends (unless a newer version of the document has come in meanwhile).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar
from urllib.parse import unquote

import cattrs
from cattrs.errors import ClassValidationError
from cattrs.v import format_exception
from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcMethodNotFound,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, default_converter
from pygls.uris import to_fs_path

from pcdsl import __version__
from pcdsl.diagnostics import Diagnostic, Severity, Span
from pcdsl.lsp import analysis
from pcdsl.lsp.positions import (
    UTF16,
    Point,
    from_client,
    normalize_newlines,
    span_points,
    split_lines,
    to_client,
)

logger = logging.getLogger("pcdsl.lsp")
DEBUG_VARIABLE = "PCDSL_DEBUG"  # set: tracebacks with the one-line logs, and pygls's own logs

QUICK_SECONDS = 1.0  # how long a change waits for the full analysis before publishing a partial one
QUICK_VARIABLE = "PCDSL_LSP_QUICK_SECONDS"  # overrides it (0: always publish the partial one first)


def quick_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(QUICK_VARIABLE, QUICK_SECONDS)))
    except ValueError:
        return QUICK_SECONDS


_SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.NOTE: types.DiagnosticSeverity.Information,
}
_COMPLETION_KINDS = {
    "keyword": types.CompletionItemKind.Keyword,
    "setting": types.CompletionItemKind.Property,
    "kind": types.CompletionItemKind.Class,
    "option": types.CompletionItemKind.Field,
    "value": types.CompletionItemKind.EnumMember,
    "constant": types.CompletionItemKind.Constant,
    "region": types.CompletionItemKind.Variable,
    "variable": types.CompletionItemKind.Variable,
}

Handler = TypeVar("Handler", bound=Callable[..., Any])


def _logged(handler: Handler) -> Handler:
    """A notification handler that logs its failure (one line) instead of raising it: a
    half-typed spec must never cost the user their language server."""

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            handler(*args, **kwargs)
        except Exception:
            logger.exception("%s failed", handler.__name__)

    return guarded  # type: ignore[return-value]


def _answered(handler: Handler) -> Handler:
    """A request handler whose failure is logged (one line) and answered with InternalError
    and a one-line message, never with a traceback; InvalidParams and the like pass as
    they are."""

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except JsonRpcException:
            raise
        except Exception as error:
            logger.exception("%s failed", handler.__name__)
            raise JsonRpcInternalError(
                message=f"{handler.__name__} failed: {type(error).__name__}: {error}") from None

    return guarded  # type: ignore[return-value]


# JSON-RPC and LSP error codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_NOT_INITIALIZED = -32002


def _strict_converter() -> cattrs.Converter:
    """pygls's converter, but an ``int``, ``str`` or ``bool`` field takes only that JSON type
    (cattrs would turn ``"3"`` into 3, ``0.5`` into 0 and ``5`` into ``"5"``)."""
    converter = default_converter()

    def exactly(kind: type) -> Callable[[Any, type], Any]:
        def structure(value: Any, _: type) -> Any:
            if type(value) is not kind:
                raise TypeError(f"expected {kind.__name__}, found {type(value).__name__}")
            return value

        return structure

    for kind in (int, str, bool):
        converter.register_structure_hook(kind, exactly(kind))
    return converter


def _problems(error: Exception) -> str:
    """What is wrong with a message's params, in one line: ``expected int @ params.position.line``."""
    if not isinstance(error, ClassValidationError):
        return f"{type(error).__name__}: {error}"

    def describe(exc: BaseException, kind: type | None) -> str:
        if isinstance(exc, ValueError) and str(exc):  # lsprotocol's range checks say what they want
            return str(exc)
        return format_exception(exc, kind)

    found = cattrs.transform_error(error, format_exception=describe, path="$")
    # The paths name Python attributes (`text_document`); the client wrote `textDocument`.
    return "; ".join(re.sub(r"_([a-z])", lambda m: m[1].upper(), line.replace("$.", "")) for line in found)


class PcProtocol(LanguageServerProtocol):
    """pygls's protocol, receiving each message as parsed JSON and checking it first, so
    that every request gets one response (pygls drops a request whose params it cannot
    structure, and one that comes after ``shutdown``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_received = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        return data  # pygls's reading loop passes each parsed object here; `handle_message` checks it

    def handle_message(self, message: Any) -> None:
        try:
            self._receive(message)
        except Exception as error:  # a bug in the checks themselves: still answer
            logger.exception("a message could not be handled")
            if isinstance(message, dict) and _is_id(message.get("id")) and "method" in message:
                self.send_error(message["id"], JsonRpcInternalError.CODE, f"{type(error).__name__}: {error}")

    def send_error(self, ident: int | str | None, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}})

    def _receive(self, message: Any) -> None:
        if not isinstance(message, dict):  # LSP has no batches
            return self._reject(None, INVALID_REQUEST, "a message must be a JSON object")
        if "id" in message and not _is_id(message["id"]):
            return self._reject(None, INVALID_REQUEST, "a request id must be an integer or a string")
        ident, method = message.get("id"), message.get("method")
        request = "id" in message
        if message.get("jsonrpc") != "2.0":
            return self._reject(ident, INVALID_REQUEST, 'a message must have "jsonrpc": "2.0"', request)
        if "method" not in message:
            if request and ("result" in message) != ("error" in message):
                return self._respond(message)  # the client's answer to a request of ours
            return self._reject(ident, INVALID_REQUEST, "a message needs a method, or a result or error")
        if not isinstance(method, str):
            return self._reject(ident, INVALID_REQUEST, "a method must be a string", request)
        if request and self._shutdown:
            return self._reject(ident, INVALID_REQUEST, f"{method} after shutdown: only exit is accepted")
        if method == types.INITIALIZE and self.initialize_received:  # it would forget the open documents
            return self._reject(ident, INVALID_REQUEST, "initialize again: it is sent only once", request)
        if method not in (types.EXIT, types.INITIALIZE) and not self.initialize_received:
            return self._reject(ident, SERVER_NOT_INITIALIZED,
                                f"{method} before initialize: the server is not initialized", request)
        kind = self.get_message_type(method)
        try:
            structured = self._converter.structure(message, kind) if kind is not None \
                else super().structure_message(message)  # an unknown method: pygls answers MethodNotFound
        except Exception as error:
            return self._reject(ident, JsonRpcInvalidParams.CODE,
                                f"invalid params of {method}: {_problems(error)}", request)
        if request and not hasattr(structured, "id"):  # pygls would run it as the notification it is
            return self._reject(ident, JsonRpcMethodNotFound.CODE,
                                f"{method} is a notification, not a request")
        if method in (types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_DID_CLOSE):
            uri = structured.params.text_document.uri
            if unquote(uri) not in self.workspace.text_documents:  # pygls would fail on it
                return self._reject(ident, JsonRpcInvalidParams.CODE, f"{method}: {uri} is not open", request)
        if method == types.INITIALIZE:
            self.initialize_received = True
        super().handle_message(structured)

    def _reject(self, ident: int | str | None, code: int, text: str, request: bool = True) -> None:
        """Answer a request with an error; a notification has no answer, so it is logged and dropped."""
        if request:
            self.send_error(ident, code, text)
        else:
            logger.warning("ignored a notification: %s", text)

    def _respond(self, message: dict[str, Any]) -> None:
        try:
            structured = super().structure_message(message)
        except Exception as error:
            logger.warning("ignored a response: %s", _problems(error))
            return
        super().handle_message(structured)


def _is_id(value: Any) -> bool:
    return type(value) in (int, str)


class _Compiler:
    """One daemon thread running full analyses in order (a daemon, so that exiting never
    waits for a long compilation)."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self.unfinished = 0  # jobs submitted and not done yet
        self.lock = threading.Lock()
        threading.Thread(target=self._run, name="pcc-lsp-compiler", daemon=True).start()

    @property
    def busy(self) -> bool:
        with self.lock:
            return self.unfinished > 0

    def submit(self, job: Callable[[], None]) -> threading.Event:
        done = threading.Event()
        with self.lock:
            self.unfinished += 1
        self.jobs.put((job, done))
        return done

    def _run(self) -> None:
        while True:
            job, done = self.jobs.get()
            try:
                job()
            except Exception:
                logger.exception("compiling failed")
            finally:
                with self.lock:
                    self.unfinished -= 1
                done.set()


class _Pending:
    """The result of one submitted analysis, and whether its submitter stopped waiting."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result: analysis.Analysis | None = None
        self.abandoned = False


class PcServer(LanguageServer):
    """The server, with the analysis of the latest version of each open document."""

    def __init__(self) -> None:
        super().__init__("pcc", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full,
                         protocol_cls=PcProtocol, converter_factory=_strict_converter)
        self.analyses: dict[str, analysis.Analysis] = {}
        self.latest: dict[str, int | None] = {}  # the newest version of each open document
        self.compiler = _Compiler()
        self.shut_down = False

    @property
    def encoding(self) -> str:
        try:
            encoding = self.workspace.position_encoding
        except Exception:  # before initialisation there is no workspace yet
            return UTF16
        return str(encoding.value if hasattr(encoding, "value") else encoding or UTF16)

    def text_of(self, uri: str) -> str:
        """The open document's text, with ``normalize_newlines``; InvalidParams if it is not open."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            raise JsonRpcInvalidParams(message=f"{uri} is not open (send textDocument/didOpen first)")
        return normalize_newlines(document.source)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls's report of a failure outside a request's handler: one line on standard
        error instead of a message box in the editor. Its reading loop reports a body that
        is not JSON this way, which JSON-RPC answers with ParseError (with a null id: the
        request's id is unknown)."""
        if source is JsonRpcException and isinstance(error, ValueError):
            logger.warning("a message that is not JSON: %s", error)
            self.protocol.send_error(None, PARSE_ERROR, f"not JSON: {error}")
        elif source is not FeatureRequestError:  # a request's failure is in its response
            logger.warning("%s", error)

    def analysis_of(self, uri: str) -> analysis.Analysis:
        """The analysis of the document's current text: the full one when it is done,
        else the parser's and checker's."""
        text = self.text_of(uri)
        cached = self.analyses.get(uri)
        if cached is None or cached.text != text:
            cached = analysis.frontend(text, _path_of(uri))
        return cached

    def refresh(self, uri: str, version: int | None) -> None:
        """Analyse the document again and publish its diagnostics (see the module's doc)."""
        text = self.text_of(uri)
        path = _path_of(uri)
        self.latest[uri] = version
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        pending = _Pending()

        def job() -> None:
            if self.latest.get(uri, -1) != version:  # superseded before it started
                return
            result = analysis.analyse(text, path)
            with pending.lock:
                pending.result = result
                late = pending.abandoned
            if late and loop is not None:
                loop.call_soon_threadsafe(self.finish, uri, version, result)

        # While a long compilation is still running, the new one would wait behind it:
        # publish the partial diagnostics at once rather than hold up the editor.
        wait = 0.0 if self.compiler.busy else quick_seconds()
        done = self.compiler.submit(job)
        done.wait(wait if loop is not None else None)
        with pending.lock:
            result = pending.result
            pending.abandoned = result is None
        self.finish(uri, version, result if result is not None else analysis.frontend(text, path))

    def finish(self, uri: str, version: int | None, result: analysis.Analysis) -> None:
        if uri not in self.latest or self.latest[uri] != version:
            return  # the document changed (or closed) since
        self.analyses[uri] = result
        publish(self, uri, version, result)

    def point(self, uri: str, position: types.Position) -> Point:
        lines = split_lines(self.text_of(uri))
        return from_client(lines, position.line, position.character, self.encoding)

    def range(self, text: str, span: Span | None) -> types.Range:
        lines = split_lines(text)
        if span is None:  # a diagnostic about the whole file: show it at the start
            return types.Range(types.Position(0, 0), types.Position(0, 0))
        start, end = span_points(span.line, span.column, span.end_line, span.end_column)
        (start_line, start_char), (end_line, end_char) = (to_client(lines, start, self.encoding),
                                                          to_client(lines, end, self.encoding))
        return types.Range(types.Position(start_line, start_char), types.Position(end_line, end_char))


def _path_of(uri: str) -> str:
    try:
        return to_fs_path(uri) or uri
    except Exception:
        return uri


def lsp_diagnostic(server: PcServer, uri: str, text: str, diagnostic: Diagnostic) -> types.Diagnostic:
    message = diagnostic.message + (f"\nhelp: {diagnostic.hint}" if diagnostic.hint else "")
    related = [types.DiagnosticRelatedInformation(types.Location(uri, server.range(text, span)), note)
               for note, span in diagnostic.notes if span is not None]
    return types.Diagnostic(
        range=server.range(text, diagnostic.span), message=message,
        severity=_SEVERITIES.get(diagnostic.severity, types.DiagnosticSeverity.Error),
        code=diagnostic.code, source="pcc", related_information=related or None)


def publish(server: PcServer, uri: str, version: int | None, result: analysis.Analysis) -> None:
    try:
        diagnostics = [lsp_diagnostic(server, uri, result.text, d) for d in result.diagnostics]
    except Exception:  # report nothing rather than stop serving
        logger.exception("diagnostics of %s failed", uri)
        return
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))


def build_server() -> PcServer:
    server = PcServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @_logged
    def did_open(ls: PcServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @_logged
    def did_change(ls: PcServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @_logged
    def did_close(ls: PcServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)
        ls.latest.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @_answered
    def hover(ls: PcServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        result = ls.analysis_of(uri)
        found = analysis.hover(result, ls.point(uri, params.position))
        if found is None:
            return None
        markdown, span = found
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, markdown),
                           ls.range(result.text, span) if span is not None else None)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=["(", ",", "=", "|", "*"]))
    @_answered
    def completion(ls: PcServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        text = ls.text_of(uri)
        candidates = analysis.completions(text, ls.point(uri, params.position))
        items = [types.CompletionItem(
            label=c.label, kind=_COMPLETION_KINDS.get(c.kind), detail=c.detail or None,
            documentation=(types.MarkupContent(types.MarkupKind.Markdown, c.documentation)
                           if c.documentation else None),
            insert_text=c.insert, sort_text=f"{index:03d}")
            for index, c in enumerate(candidates)]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @_answered
    def definition(ls: PcServer, params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        result = ls.analysis_of(uri)
        span = analysis.definition(result, ls.point(uri, params.position))
        return types.Location(uri, ls.range(result.text, span)) if span is not None else None

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @_answered
    def formatting(ls: PcServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        from pcdsl.diagnostics import CompileError
        from pcdsl.syntax.format import format_source

        uri = params.text_document.uri
        text = ls.text_of(uri)
        try:
            formatted = format_source(text, _path_of(uri))
        except CompileError:  # a file that does not parse is left alone (see the diagnostics)
            return None
        if formatted == text:
            return []
        lines = split_lines(text)
        end_line, end_char = to_client(lines, Point(len(lines) - 1, len(lines[-1])), ls.encoding)
        whole = types.Range(types.Position(0, 0), types.Position(end_line, end_char))
        return [types.TextEdit(range=whole, new_text=formatted)]

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: PcServer, params: Any = None) -> None:
        ls.shut_down = True

    return server



class _LogFormatter(logging.Formatter):
    """One line per problem, as pcc prints errors; the traceback only with PCDSL_DEBUG=1."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"pcc lsp: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if os.environ.get(DEBUG_VARIABLE):
                return line + "\n" + self.formatException(record.exc_info)
            line += f" ({type(error).__name__}: {error})"
        return line


def serve(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Serve over stdio until the client says exit; the LSP exit status (0 after a
    shutdown request, 1 otherwise). Logs go to standard error (standard output is the
    protocol's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter())
    logging.basicConfig(handlers=[handler], level=logging.WARNING, force=True)
    if not os.environ.get(DEBUG_VARIABLE):  # pygls logs tracebacks; our own lines say what matters
        logging.getLogger("pygls").setLevel(logging.CRITICAL)
    server = build_server()
    server.start_io(stdin, stdout)
    return 0 if server.shut_down else 1
