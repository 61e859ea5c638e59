"""Test kit for the HTTP/1.1 core: a server on a background loop, and a strict raw client.

The client is written from RFC 9112 independently of the core (it does not use llhttp), so a
framing mistake in a response (two lengths, a stray body on a 204, a bad chunk) fails a test
instead of being papered over by a forgiving parser.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import random
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.http import HttpLimits, HttpServer
from frontdesk.http.parser import RequestParser, UpgradeRequested
from frontdesk.http.request import Request

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Linux
    uvloop = None

LOOP_KINDS = ["asyncio", *(["uvloop"] if uvloop is not None else [])]

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

#: the limits the corpus server runs with; the corpus' limit cases are written against them
#: (tests/corpus/README.md)
CORPUS_LIMITS = HttpLimits(
    request_line=1024,
    request_fields=40,
    request_field_size=1024,
    request_body=16384,
    header_timeout=10,
    body_timeout=10,
    keepalive_timeout=10,
)

#: every socket read in the tests gives up after this long
IO_TIMEOUT = 10.0

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-9][0-9]{2}) ([\t !-~\x80-\xff]*)\Z")
_FIELD_VALUE = re.compile(rb"[\t !-~\x80-\xff]*\Z")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)(;[^\r\n]*)?\Z")


# -- the server side ---------------------------------------------------------------------


class ServerThread:
    """An ``HttpServer`` on its own event loop in a daemon thread, bound to 127.0.0.1:0.

    Errors logged by the core (``frontdesk.http``, from this thread) and errors reaching the
    loop's exception handler are collected in ``errors``: a handler crash or an exception
    escaping a protocol callback shows up there, and most tests assert it stays empty.
    """

    def __init__(
        self,
        handler: Any,
        limits: HttpLimits | None = None,
        loop_kind: str = "asyncio",
        shutdown_timeout: float = 2.0,
    ) -> None:
        self.handler = handler
        self.limits = limits or HttpLimits()
        self.loop_kind = loop_kind
        self.shutdown_timeout = shutdown_timeout
        self.errors: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: HttpServer | None = None
        self.port = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._log_handler = _ThreadLogHandler(self.errors)

    # lifecycle

    def start(self) -> ServerThread:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            sock.setblocking(False)
            self.port = sock.getsockname()[1]
        except BaseException:
            sock.close()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"http-{self.loop_kind}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(IO_TIMEOUT):
            raise RuntimeError("server thread did not start")
        if self._startup_error is not None:
            raise RuntimeError("server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(self.shutdown_timeout + IO_TIMEOUT)
        logging.getLogger("frontdesk.http").removeHandler(self._log_handler)
        if thread.is_alive():
            raise RuntimeError("server thread did not stop")

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        loop = uvloop.new_event_loop() if self.loop_kind == "uvloop" else asyncio.new_event_loop()
        self.loop = loop
        self._log_handler.thread_id = threading.get_ident()
        logging.getLogger("frontdesk.http").addHandler(self._log_handler)
        loop.set_exception_handler(self._on_loop_error)
        try:
            loop.run_until_complete(self._main(sock))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException as exc:  # reported through errors / _startup_error
            self._startup_error = exc
            self.errors.append(f"server loop died: {exc!r}")
        finally:
            sock.close()
            loop.close()
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        self._stop = asyncio.Event()
        self.server = HttpServer(self.handler, self.limits)
        await self.server.start([sock])
        self._ready.set()
        await self._stop.wait()
        await self.server.shutdown(self.shutdown_timeout)
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(f"loop error: {context.get('message')} {context.get('exception')!r}")

    # calling into the loop

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn(*args)

        return self.run(run())

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = IO_TIMEOUT) -> Any:
        """Run a coroutine on the server's loop, wait for it (bounded)."""
        return self.submit(coro).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def connection_count(self) -> int:
        assert self.server is not None
        return int(self.call(lambda: len(self.server.connections)))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = IO_TIMEOUT) -> bool:
        """Poll ``predicate`` (evaluated on the server loop) until true or ``timeout``."""
        return poll(lambda: bool(self.call(predicate)), timeout)


class _ThreadLogHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink
        self.thread_id = -1

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.sink.append(f"logged: {record.getMessage()} {record.exc_info!r}")


@contextlib.contextmanager
def serve(
    handler: Any, limits: HttpLimits | None = None, loop_kind: str = "asyncio", **kwargs: Any
) -> Iterator[ServerThread]:
    server = ServerThread(handler, limits, loop_kind, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Scripted:
    """A handler running ``script(exchange)`` as a task per request, in arrival order.

    Whatever the script raises is recorded in ``raised`` and otherwise left alone: the core,
    not the handler, must then put the connection right.
    """

    def __init__(self, script: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
        self.script = script
        self.raised: list[BaseException] = []
        self.exchanges: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, exchange: Any) -> None:
        self.exchanges.append(exchange)
        task = asyncio.get_running_loop().create_task(self._run(exchange))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, exchange: Any) -> None:
        try:
            await self.script(exchange)
        except Exception as exc:
            self.raised.append(exc)


def poll(predicate: Callable[[], bool], timeout: float = IO_TIMEOUT, every: float = 0.01) -> bool:
    """True as soon as ``predicate()`` is; False after ``timeout`` seconds (bounded polling)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


# -- the client side ---------------------------------------------------------------------


class ResponseError(AssertionError):
    """The server's bytes are not a valid HTTP/1.1 response."""


class Closed(AssertionError):
    """The connection ended (EOF or reset) where a response was expected."""


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: how the body was delimited: "none", "length", "chunked" or "close"
    framing: str = "none"

    def header(self, name: bytes) -> bytes | None:
        values = self.header_all(name)
        if len(values) > 1:
            raise ResponseError(f"{name!r} sent {len(values)} times")
        return values[0] if values else None

    def header_all(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]

    def connection_tokens(self) -> set[bytes]:
        tokens: set[bytes] = set()
        for value in self.header_all(b"connection"):
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
        return tokens

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One raw TCP connection, with a strict response reader (RFC 9112 section 6.3)."""

    def __init__(self, port: int, timeout: float = IO_TIMEOUT, rcvbuf: int | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.timeout = timeout
        self._buf = bytearray()
        self._eof = False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # sending

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_pieces(self, pieces: list[bytes], *, tolerate_close: bool = False) -> None:
        """Send each piece with its own ``sendall``; with ``tolerate_close``, stop quietly if
        the server has already closed (it may answer an invalid request before all is sent)."""
        try:
            for piece in pieces:
                self.sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            if not tolerate_close:
                raise

    def half_close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    # receiving

    def _fill(self) -> None:
        if self._eof:
            raise Closed("connection closed by the server")
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self._eof = True
            raise Closed("connection closed by the server")
        self._buf += data

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                if b"\n" in line or b"\r" in line:
                    raise ResponseError(f"bare CR or LF in {line!r}")
                return line
            if len(self._buf) > 65536:
                raise ResponseError("response line too long")
            self._fill()

    def _exactly(self, size: int) -> bytes:
        while len(self._buf) < size:
            self._fill()
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def _fields(self) -> list[tuple[bytes, bytes]]:
        fields = []
        while True:
            line = self._line()
            if not line:
                return fields
            name, colon, value = line.partition(b":")
            if not colon or _TOKEN.match(name) is None:
                raise ResponseError(f"bad field line {line!r}")
            value = value.strip(b" \t")
            if _FIELD_VALUE.match(value) is None:
                raise ResponseError(f"bad field value {line!r}")
            fields.append((name.lower(), value))

    def read_response(self, method: str = "GET") -> Response:
        """Read one response (interim or final) and its body."""
        line = self._line()
        match = _STATUS_LINE.match(line)
        if match is None:
            raise ResponseError(f"bad status line {line!r}")
        status = int(match.group(1))
        response = Response(status, match.group(2), self._fields())
        lengths = response.header_all(b"content-length")
        codings = response.header_all(b"transfer-encoding")
        if status < 200 or status in (204, 304):
            if codings or (lengths and status != 304):
                raise ResponseError(f"{status} with framing fields {response.headers!r}")
            return response
        if codings and lengths:
            raise ResponseError("both Transfer-Encoding and Content-Length")
        if len(lengths) > 1:
            raise ResponseError("more than one Content-Length")
        if lengths and not lengths[0].isdigit():
            raise ResponseError(f"invalid Content-Length {lengths[0]!r}")
        if method == "HEAD":
            return response
        if codings:
            if b",".join(codings).strip().lower() != b"chunked":
                raise ResponseError(f"unexpected transfer coding {codings!r}")
            response.framing = "chunked"
            response.body, response.trailers = self._chunked()
        elif lengths:
            response.framing = "length"
            response.body = self._exactly(int(lengths[0]))
        else:
            response.framing = "close"
            response.body = self.read_to_eof()
        return response

    def _chunked(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        parts = []
        while True:
            line = self._line()
            match = _CHUNK_SIZE.match(line)
            if match is None:
                raise ResponseError(f"bad chunk size line {line!r}")
            size = int(match.group(1), 16)
            if size == 0:
                return b"".join(parts), self._fields()
            parts.append(self._exactly(size))
            if self._exactly(2) != b"\r\n":
                raise ResponseError("chunk data not followed by CRLF")

    def read_final(self, method: str = "GET") -> tuple[list[int], Response]:
        """Read interim responses up to the final one: (interim statuses, final)."""
        interim = []
        for _ in range(10):
            response = self.read_response(method)
            if response.status >= 200:
                return interim, response
            interim.append(response.status)
        raise ResponseError("more than 10 interim responses")

    def read_to_eof(self, limit: int = 64 << 20) -> bytes:
        """Everything until the server closes (bounded by the socket timeout per read)."""
        while not self._eof:
            if len(self._buf) > limit:
                raise ResponseError("too much data before close")
            try:
                self._fill()
            except Closed:
                break
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def expect_eof(self, timeout: float | None = None) -> None:
        """Assert the server closes without sending anything more."""
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            rest = self.read_to_eof()
        finally:
            self.sock.settimeout(old)
        if rest:
            raise ResponseError(f"unexpected bytes before close: {rest[:200]!r}")

    def is_open(self) -> bool:
        """Nothing pending and the server has not closed (non-blocking peek)."""
        if self._eof:
            return False
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return True
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return False
        return bool(data)


# -- the parser, in process -------------------------------------------------------------


class Sink:
    """Collects what the parser reports, as the echo handler would describe it."""

    def __init__(self) -> None:
        self.started: list[Request] = []
        self.done: list[dict[str, Any]] = []
        self._body: list[bytes] = []

    def on_request(self, request: Request) -> None:
        self.started.append(request)
        self._body = []

    def on_body(self, data: bytes) -> None:
        assert self.started, "body before a request"
        self._body.append(data)

    def on_request_complete(self, request: Request) -> None:
        assert request is self.started[-1]
        self.done.append(describe(request, b"".join(self._body)))


def describe(request: Request, body: bytes) -> dict[str, Any]:
    return {
        "method": request.method,
        "target": request.target.decode("latin-1"),
        "path": request.path.decode("latin-1"),
        "query": request.query.decode("latin-1"),
        "version": request.version,
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
        "trailers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.trailers],
        "body": body.decode("latin-1"),
    }


def parse(pieces: list[bytes], limits: HttpLimits = CORPUS_LIMITS) -> Sink:
    """Feed pieces to a new parser; what it reported."""
    sink = Sink()
    feed_pieces(RequestParser(limits, sink), pieces)
    return sink


def feed_pieces(parser: RequestParser, pieces: list[bytes]) -> None:
    """Feed pieces, one read each; an upgrade request is declined the way the connection
    declines it."""
    pending = list(pieces)
    while pending:
        piece = pending.pop(0)
        try:
            parser.feed(piece)
        except UpgradeRequested as upgrade:
            parser.reset()
            pending.insert(0, piece[upgrade.offset :])


# -- the corpus --------------------------------------------------------------------------


@dataclass
class CorpusCase:
    name: str
    kind: str  # "valid" or "invalid"
    data: bytes
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def half_close(self) -> bool:
        return bool(self.expect.get("half_close"))

    @property
    def closes(self) -> bool:
        return bool(self.expect["closed"])

    @property
    def method(self) -> str:
        if self.kind == "valid":
            return str(self.expect["request"]["method"])
        return "GET"


def load_corpus(kind: str) -> list[CorpusCase]:
    cases = []
    for path in sorted((CORPUS / kind).glob("*.http")):
        name = path.name.removesuffix(".http")
        expect = json.loads(path.with_name(name + ".expect.json").read_text("utf-8"))
        cases.append(CorpusCase(name, kind, path.read_bytes(), expect))
    return cases


def echo_length(request: dict[str, Any]) -> int:
    """Length of the echo's JSON for ``request`` (what a HEAD response's length must be)."""
    keys = ("method", "target", "path", "query", "version", "headers", "trailers", "body")
    return len(json.dumps({key: request[key] for key in keys}).encode("utf-8"))


def check_valid_response(case: CorpusCase, interim: list[int], response: Response) -> None:
    expect = case.expect
    request = expect["request"]
    assert response.status == expect["status"], (case.id, response.status, response.body)
    has_expect = any(name == "expect" for name, _ in request["headers"])
    # RFC 9110 10.1.1: 100 Continue only for an Expect: 100-continue on HTTP/1.1, and a server
    # may skip it when the body has already arrived.
    allowed_interim = [[]] + ([[100]] if has_expect and request["version"] == "1.1" else [])
    assert interim in allowed_interim, (case.id, interim)
    if case.method == "HEAD":
        assert response.body == b""
        assert response.header(b"content-length") == str(echo_length(request)).encode()
    else:
        assert response.json() == request, case.id
    closing = b"close" in response.connection_tokens()
    assert closing == case.closes, (case.id, response.headers)


def split_points(data: bytes, mode: str, seed: int = 0) -> list[bytes]:
    """``data`` cut into pieces: whole, per line (after each LF), per byte, or at random."""
    if mode == "whole":
        return [data]
    if mode == "lines":
        return re.findall(rb"[^\n]*\n|[^\n]+", data)
    if mode == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    pieces, start = [], 0
    while start < len(data):
        size = rng.choice((1, 1, 2, 3, 5, 8, 13, 40, 200))
        pieces.append(data[start : start + size])
        start += size
    return pieces
