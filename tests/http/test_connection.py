"""``HttpConnection`` and ``HttpServer``: persistence (RFC 9112 9), pipelining, limits,
timeouts, read back-pressure, write flow control, graceful shutdown."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from frontdesk.errors import ClientDisconnected, RemoteProtocolError
from frontdesk.http import Exchange, HttpLimits
from frontdesk.http.echo import EchoHandler
from tests.http.http_testkit import Client, Closed, Scripted, ServerThread, poll
from tests.support.raw import exchange as raw_exchange
from tests.support.threaded import serving

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture
def server(loop_kind: str) -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def make(handler: Any, limits: HttpLimits | None = None, **kw: Any) -> ServerThread:
        srv = ServerThread(handler, limits or HttpLimits(keepalive_timeout=5), loop_kind, **kw)
        started.append(srv.start())
        return srv

    yield make
    for srv in started:
        srv.stop()
        assert srv.errors == []


def get(path: str, *fields: bytes, version: str = "1.1") -> bytes:
    head = f"GET {path} HTTP/{version}\r\n".encode()
    if version == "1.1":
        head += b"Host: t\r\n"
    return head + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


# -- persistence ----------------------------------------------------------------------------


def test_keep_alive_reuses_the_connection(server: Any) -> None:
    srv = server(EchoHandler())
    with Client(srv.port) as client:
        for i in range(5):
            client.send(get(f"/{i}"))
            response = client.read_response()
            assert response.json()["path"] == f"/{i}"
            assert b"close" not in response.connection_tokens()
        assert srv.connection_count() == 1


def test_http10_closes_unless_keep_alive_is_asked(server: Any) -> None:
    srv = server(EchoHandler())
    with Client(srv.port) as client:
        client.send(get("/a", version="1.0"))
        response = client.read_response()
        assert b"close" in response.connection_tokens()
        client.expect_eof()
    with Client(srv.port) as client:
        for _ in range(2):
            client.send(get("/b", b"Connection: keep-alive", version="1.0"))
            response = client.read_response()
            assert b"keep-alive" in response.connection_tokens()
        assert client.is_open()


def test_connection_close_is_honoured_and_nothing_after_it_processed(server: Any) -> None:
    srv = server(EchoHandler())
    with Client(srv.port) as client:
        client.send(get("/1") + get("/2", b"Connection: close") + get("/3"))
        assert client.read_response().json()["path"] == "/1"
        second = client.read_response()
        assert second.json()["path"] == "/2"
        assert b"close" in second.connection_tokens()
        client.expect_eof()


def test_keep_alive_turned_off(server: Any) -> None:
    srv = server(EchoHandler(), HttpLimits(keepalive_timeout=0))
    with Client(srv.port) as client:
        client.send(get("/1") + get("/2"))
        response = client.read_response()
        assert b"close" in response.connection_tokens()
        client.expect_eof()


def test_complete_request_then_half_close_is_answered(server: Any) -> None:
    srv = server(EchoHandler())
    with Client(srv.port) as client:
        client.send(get("/1") + get("/2"))
        client.half_close()
        assert client.read_response().json()["path"] == "/1"
        assert client.read_response().json()["path"] == "/2"
        client.expect_eof()


def test_pipeline_deeper_than_max_pipelined(server: Any) -> None:
    srv = server(EchoHandler(), HttpLimits(max_pipelined=2))
    with Client(srv.port) as client:
        client.send(b"".join(get(f"/{i}") for i in range(200)))
        for i in range(200):
            assert client.read_response().json()["path"] == f"/{i}"


def test_pipeline_answered_in_order_with_slow_handlers(server: Any) -> None:
    async def script(exchange: Exchange) -> None:
        # Later requests finish sooner; answers must still come in request order.
        delay = {b"/0": 0.2, b"/1": 0.1, b"/2": 0.0}[exchange.request.path]
        await asyncio.sleep(delay)
        exchange.start(200, [])
        exchange.end(exchange.request.path)

    srv = server(Scripted(script))
    with Client(srv.port) as client:
        client.send(get("/0") + get("/1") + get("/2"))
        assert [client.read_response().body for _ in range(3)] == [b"/0", b"/1", b"/2"]


def test_declined_upgrade_body_is_not_a_request(server: Any) -> None:
    # httptools hands everything after an upgrade request's head to the new protocol; when the
    # handler declines the upgrade, the body must still be the body, never the next request
    # (request smuggling through a front proxy that reads the body as a body).
    srv = server(EchoHandler())
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    upgrade = b"Host: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
    by_length = b"POST /a HTTP/1.1\r\n" + upgrade + b"Content-Length: %d\r\n\r\n" % len(smuggled)
    chunked = b"POST /b HTTP/1.1\r\n" + upgrade + b"Transfer-Encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    for pieces in ([by_length + smuggled + chunked + get("/c")], [by_length, smuggled]):
        with Client(srv.port) as client:
            client.send_pieces(pieces)
            first = client.read_response().json()
            assert (first["path"], first["body"]) == ("/a", smuggled.decode())
            if len(pieces) == 1:
                second = client.read_response().json()
                assert (second["path"], second["body"]) == ("/b", smuggled.decode())
                assert client.read_response().json()["path"] == "/c"
            assert client.is_open()


def test_declined_upgrade_without_body_continues_as_http(server: Any) -> None:
    srv = server(EchoHandler())
    with Client(srv.port) as client:
        upgrade = get("/ws", b"Connection: Upgrade", b"Upgrade: websocket")
        client.send(upgrade + get("/after"))
        assert client.read_response().json()["path"] == "/ws"
        assert client.read_response().json()["path"] == "/after"


# -- errors from the handler ------------------------------------------------------------------


class Crashing:
    def handle(self, exchange: Exchange) -> None:
        raise RuntimeError("handler bug")


def test_handler_crash_before_start_is_a_500_and_close(server: Any) -> None:
    srv = server(Crashing())
    with Client(srv.port) as client:
        client.send(GET + GET)
        response = client.read_response()
        assert response.status == 500
        assert b"close" in response.connection_tokens()
        client.expect_eof()
    assert any("handler failed" in error for error in srv.errors)
    srv.errors.clear()


def test_client_gone_mid_body_reaches_the_handler(server: Any) -> None:
    async def script(exchange: Exchange) -> None:
        while await exchange.read():
            pass

    handler = Scripted(script)
    srv = server(handler)
    with Client(srv.port) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
        assert poll(lambda: len(handler.exchanges) == 1)
    assert poll(lambda: len(handler.raised) == 1)
    assert isinstance(handler.raised[0], ClientDisconnected | RemoteProtocolError)
    assert srv.wait_until(lambda: not srv.server.connections)


# -- limits -----------------------------------------------------------------------------------

LIMITS = HttpLimits(request_line=100, request_fields=5, request_field_size=100, request_body=1000)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/" + "a" * (LIMITS.request_line - 1)), 200),
        (get("/" + "a" * LIMITS.request_line), 414),
        (get("/", *[b"X-%d: v" % i for i in range(LIMITS.request_fields - 1)]), 200),
        (get("/", *[b"X-%d: v" % i for i in range(LIMITS.request_fields)]), 431),
        (get("/", b"X: " + b"v" * (LIMITS.request_field_size - 3)), 200),
        (get("/", b"X: " + b"v" * (LIMITS.request_field_size - 2)), 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"b" * 1000, 200),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n" + b"b" * 1001, 413),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"3e8\r\n"
            + b"b" * 1000
            + b"\r\n1\r\nb\r\n0\r\n\r\n",
            413,
        ),
    ],
)
def test_limits(server: Any, request_bytes: bytes, status: int) -> None:
    srv = server(EchoHandler(), LIMITS)
    with Client(srv.port) as client:
        client.send_pieces([request_bytes], tolerate_close=True)
        response = client.read_response()
        assert response.status == status
        if status != 200:
            assert b"close" in response.connection_tokens()
            client.expect_eof()


# -- timeouts (the clock ticks once a second: deadlines are honoured within a tick) --------

TIMEOUTS = HttpLimits(header_timeout=1, keepalive_timeout=1, body_timeout=1)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.monotonic()
    result = fn()
    return result, time.monotonic() - began


def test_header_timeout_is_408_then_close(server: Any) -> None:
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
        response, elapsed = _timed(client.read_response)
        assert response.status == 408
        assert b"close" in response.connection_tokens()
        client.expect_eof()
    assert 0.9 <= elapsed < 6


def test_head_begun_on_a_kept_alive_connection_times_out_with_408(server: Any) -> None:
    # Idle after an answer, then part of a head: the head's timeout (408), not the idle
    # connection's silent close.
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        client.send(GET)
        assert client.read_response().status == 200
        client.send(b"GET /next HTTP/1.1\r\nHost: t\r\n")
        response, elapsed = _timed(client.read_response)
        assert response.status == 408
        client.expect_eof()
    assert 0.9 <= elapsed < 6


def test_silent_new_connection_is_closed_without_answer(server: Any) -> None:
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        _, elapsed = _timed(client.expect_eof)
    assert 0.9 <= elapsed < 6


def test_idle_keep_alive_is_closed_silently(server: Any) -> None:
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        client.send(GET)
        assert client.read_response().status == 200
        _, elapsed = _timed(client.expect_eof)
    assert 0.9 <= elapsed < 6


def test_body_timeout_is_408_then_close(server: Any) -> None:
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        response, elapsed = _timed(client.read_response)
        assert response.status == 408
        client.expect_eof()
    assert 0.9 <= elapsed < 6


def test_slow_but_steady_body_is_not_timed_out(server: Any) -> None:
    srv = server(EchoHandler(), TIMEOUTS)
    with Client(srv.port, timeout=8) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
        for byte in b"abcd":
            # 4 x 0.4 s: longer than the body timeout in all, never silent for that long.
            assert not select.select([client.sock], [], [], 0.4)[0]
            client.send(bytes([byte]))
        assert client.read_response().json()["body"] == "abcd"


# -- flow control -------------------------------------------------------------------------


class Withholding:
    """Takes a request and reads none of its body until ``release`` is set."""

    def __init__(self) -> None:
        self.exchange: Exchange | None = None
        self.release: asyncio.Event | None = None
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    def handle(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.release = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(exchange))

    async def _run(self, exchange: Exchange) -> None:
        assert self.release is not None
        await self.release.wait()
        while data := await exchange.read():
            self.received += len(data)
        exchange.start(200, [])
        exchange.end(b"%d" % self.received)


def _send_until_blocked(sock: socket.socket, total: int, stall: float = 0.5) -> int:
    """Send up to ``total`` bytes without blocking; stop when the socket stays unwritable."""
    sock.setblocking(False)
    sent = 0
    piece = b"x" * 65536
    deadline = time.monotonic() + 20
    while sent < total and time.monotonic() < deadline:
        _, writable, _ = select.select([], [sock], [], stall)
        if not writable:
            return sent
        try:
            sent += sock.send(piece[: total - sent])
        except BlockingIOError:
            continue
    return sent


def test_unread_body_stops_the_server_reading(server: Any) -> None:
    limits = HttpLimits(request_body=0, write_buffer_high=64 * 1024, write_buffer_low=16 * 1024)
    handler = Withholding()
    srv = server(handler, limits)
    total = 256 * 1024 * 1024
    with Client(srv.port, timeout=10) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
        sent = _send_until_blocked(client.sock, total)
        # The client is blocked long before the body is sent: the server stopped reading
        # once its buffer passed the high-water mark (plus at most one read's worth).
        assert sent < 32 * 1024 * 1024
        buffered = srv.call(lambda: handler.exchange.buffered)
        assert buffered <= limits.body_buffer_high + 512 * 1024
        # Once the handler reads, the rest flows (bounded: a few more MB, then stop).
        srv.call(lambda: handler.release.set())
        more = 8 * 1024 * 1024
        client.sock.settimeout(10)
        client.sock.sendall(b"x" * more)
        assert srv.wait_until(lambda: handler.received >= sent + more)
        assert srv.call(lambda: handler.exchange.buffered) <= limits.body_buffer_high + 512 * 1024


class Streaming:
    """Writes ``total`` bytes in pieces, awaiting ``drain()`` after each write."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.written = 0
        self.in_drain = False
        self.done = False
        self._task: asyncio.Task[None] | None = None

    def handle(self, exchange: Exchange) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(exchange))

    async def _run(self, exchange: Exchange) -> None:
        exchange.start(200, [(b"content-length", b"%d" % self.total)])
        piece = b"y" * 65536
        while self.written < self.total:
            exchange.write(piece)
            self.written += len(piece)
            self.in_drain = True
            await exchange.drain()
            self.in_drain = False
        exchange.end()
        self.done = True


def test_drain_blocks_while_the_client_does_not_read(server: Any) -> None:
    total = 64 * 1024 * 1024
    handler = Streaming(total)
    srv = server(handler)
    with Client(srv.port, rcvbuf=64 * 1024) as client:
        client.send(GET)
        # The handler must come to rest inside drain(), far from done.
        samples: list[int] = []

        def stalled() -> bool:
            samples.append(srv.call(lambda: handler.written if handler.in_drain else -1))
            return len(samples) >= 5 and samples[-1] >= 0 and len(set(samples[-5:])) == 1

        assert poll(stalled, 10, every=0.1)
        assert samples[-1] < 16 * 1024 * 1024
        assert not handler.done
        response = client.read_response()
        assert len(response.body) == total
    assert handler.done


# -- graceful shutdown --------------------------------------------------------------------


def test_shutdown_finishes_in_flight_and_closes_idle(loop_kind: str) -> None:
    gate: dict[str, asyncio.Event] = {}

    async def script(exchange: Exchange) -> None:
        if exchange.request.path == b"/slow":
            gate["release"] = asyncio.Event()
            await gate["release"].wait()
        exchange.start(200, [])
        exchange.end(exchange.request.path)

    handler = Scripted(script)
    srv = ServerThread(handler, HttpLimits(keepalive_timeout=30), loop_kind, shutdown_timeout=10)
    srv.start()
    try:
        with Client(srv.port) as idle, Client(srv.port) as silent, Client(srv.port) as busy:
            idle.send(get("/fast"))
            assert idle.read_response().body == b"/fast"
            busy.send(get("/slow"))
            assert srv.wait_until(lambda: "release" in gate)
            assert srv.wait_until(lambda: len(srv.server.connections) == 3)

            stopping = srv.submit(srv.server.shutdown(10))
            idle.expect_eof(timeout=5)
            silent.expect_eof(timeout=5)
            with pytest.raises(OSError), Client(srv.port, timeout=2):
                pass  # no longer accepting
            assert busy.is_open() and not stopping.done()

            srv.call(lambda: gate["release"].set())
            response = busy.read_response()
            assert response.body == b"/slow"
            assert b"close" in response.connection_tokens()
            busy.expect_eof(timeout=5)
            stopping.result(10)
    finally:
        srv.stop()
    assert srv.errors == []


def test_shutdown_gives_up_on_a_stuck_exchange(loop_kind: str) -> None:
    async def script(exchange: Exchange) -> None:
        await asyncio.Event().wait()  # never answers

    srv = ServerThread(Scripted(script), HttpLimits(), loop_kind, shutdown_timeout=1)
    srv.start()
    try:
        with Client(srv.port) as client:
            client.send(GET)
            assert srv.wait_until(lambda: len(srv.server.connections) == 1)
            began = time.monotonic()
            srv.run(srv.server.shutdown(1))
            assert time.monotonic() - began < 5
            with pytest.raises(Closed):
                client.read_response()
    finally:
        srv.stop()


class _RaisingHandler:
    def handle(self, exchange: object) -> None:
        raise RuntimeError("handler bug")


def test_handler_raising_answers_500_and_frees_the_connection() -> None:
    with serving(_RaisingHandler()) as srv:  # type: ignore[arg-type]
        began = time.monotonic()
        raw = raw_exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", half_close=True)
        assert raw.startswith(b"HTTP/1.1 500 ")
        # Closed once the client is done sending, not after the whole 2-second linger.
        assert time.monotonic() - began < 1.9
        deadline = time.monotonic() + 10
        while srv.server is not None and srv.server.connections:
            assert time.monotonic() < deadline
            srv.call(lambda: asyncio.sleep(0.01))
