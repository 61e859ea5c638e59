"""The ASGI websocket scope over real sockets, with the websockets client (and a raw one)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.sync.client import ClientConnection, connect

from frontdesk.errors import ClientDisconnected
from frontdesk.interfaces.asgi import ASGIHandler
from frontdesk.interfaces.asgi.websocket import WebSocketOptions
from tests.interfaces import ws_apps
from tests.interfaces.ws_apps import RawClient, Reports, close_payload
from tests.support.threaded import ThreadedServer, serving

try:
    import uvloop

    LOOPS = [asyncio.new_event_loop, uvloop.new_event_loop]
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    LOOPS = [asyncio.new_event_loop]

T = ws_apps.TIMEOUT


@pytest.fixture(params=LOOPS, ids=lambda f: f.__module__.split(".")[0])
def loop_factory(request: pytest.FixtureRequest) -> Any:
    return request.param


@contextmanager
def ws_server(
    app: Any, loop_factory: Any = asyncio.new_event_loop, **options: Any
) -> Iterator[Any]:
    options.setdefault("ping_interval", 0)
    handler = ASGIHandler(app, websocket=WebSocketOptions(**options))
    with serving(handler, loop_factory=loop_factory) as srv:
        yield srv


def ws_connect(srv: ThreadedServer, path: str = "/", **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("open_timeout", T)
    kwargs.setdefault("close_timeout", T)
    ws: ClientConnection = connect(f"ws://127.0.0.1:{srv.port}{path}", proxy=None, **kwargs)
    return ws


def response_headers(ws: ClientConnection) -> Headers:
    assert ws.response is not None
    return ws.response.headers


# -- messages ------------------------------------------------------------------------------


def test_echo_text_and_binary(loop_factory: Any) -> None:
    with ws_server(ws_apps.echo_app, loop_factory) as srv, ws_connect(srv) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=T) == "héllo"
        ws.send(b"\x00\xffbin")
        assert ws.recv(timeout=T) == b"\x00\xffbin"
        big = "x" * 200_000
        ws.send(big)
        assert ws.recv(timeout=T) == big
        ws.send("")
        assert ws.recv(timeout=T) == ""


def test_fragmented_messages_are_assembled(loop_factory: Any) -> None:
    with ws_server(ws_apps.echo_app, loop_factory) as srv, ws_connect(srv) as ws:
        ws.send(["Hel", "lo, ", "wörld"])  # an iterable is sent as one fragmented message
        assert ws.recv(timeout=T) == "Hello, wörld"
        ws.send([b"ab", b"", b"cd"])
        assert ws.recv(timeout=T) == b"abcd"


def test_text_split_inside_a_character_across_frames() -> None:
    with ws_server(ws_apps.echo_app) as srv:
        raw = RawClient(srv.port)
        assert raw.status == 101
        euro = "€".encode()
        raw.send_frame(Opcode.TEXT, b"a" + euro[:1], fin=False)
        raw.send_frame(Opcode.CONT, euro[1:], fin=True)
        assert raw.recv_frame() == (Opcode.TEXT, "a€".encode())
        raw.close()


def test_scope_fields() -> None:
    reports = Reports()
    app = ws_apps.recording_app(reports)
    path = "/caf%C3%A9/room?x=1"
    with ws_server(app) as srv, ws_connect(srv, path, subprotocols=["one", "two"]):
        _, scope = reports.get()
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/café/room"
    assert scope["raw_path"] == b"/caf%C3%A9/room"
    assert scope["query_string"] == b"x=1"
    assert scope["root_path"] == ""
    assert scope["subprotocols"] == ["one", "two"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ("127.0.0.1", srv.port)
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    names = [name for name, _ in scope["headers"]]
    assert b"sec-websocket-key" in names and b"upgrade" in names


def test_invalid_utf8_closes_1007() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        raw = RawClient(srv.port)
        reports.get()
        raw.send_frame(Opcode.TEXT, b"ok \xff\xfe")
        frame = raw.recv_frame()
        assert frame is not None and frame[0] is Opcode.CLOSE
        assert close_payload(frame[1])[0] == 1007
        raw.wait_closed()
        raw.close()
        assert reports.get() == (
            "message",
            {"type": "websocket.disconnect", "code": 1007, "reason": frame[1][2:].decode()},
        )


def test_max_size_closes_1009() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports), max_size=1024) as srv:
        with ws_connect(srv) as ws:
            reports.get()
            ws.send("a" * 1024)
            assert reports.get()[1]["text"] == "a" * 1024
            with pytest.raises(ConnectionClosed) as info:
                # Too big only once assembled; the close may already meet the second fragment.
                ws.send(["a" * 600, "b" * 600])
                ws.recv(timeout=T)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        _, message = reports.get()
        assert message["type"] == "websocket.disconnect" and message["code"] == 1009


# -- handshake -----------------------------------------------------------------------------


def test_subprotocol_negotiation() -> None:
    with ws_server(ws_apps.subprotocol_app) as srv:
        with ws_connect(srv, subprotocols=["superchat", "chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert response_headers(ws)["Sec-WebSocket-Protocol"] == "chat"
            assert ws.recv(timeout=T) == "superchat,chat"
        with ws_connect(srv) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in response_headers(ws)


def test_accept_with_extra_headers() -> None:
    reports = Reports()
    headers = [(b"x-room", b"lobby"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    app = ws_apps.recording_app(reports, headers=headers)
    with ws_server(app) as srv, ws_connect(srv) as ws:
        assert response_headers(ws)["X-Room"] == "lobby"
        assert response_headers(ws).get_all("Set-Cookie") == ["a=1", "b=2"]


def test_close_before_accept_is_403() -> None:
    with ws_server(ws_apps.forbid_app) as srv, pytest.raises(InvalidStatus) as info:
        ws_connect(srv)
    assert info.value.response.status_code == 403


def test_denial_response() -> None:
    with ws_server(ws_apps.deny_app) as srv, pytest.raises(InvalidStatus) as info:
        ws_connect(srv)
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.body == b"no token"


@pytest.mark.parametrize(
    ("key", "version", "status"),
    [
        (b"not base64!", b"13", 400),
        (b"c2hvcnQ=", b"13", 400),  # decodes to 5 bytes, not 16
        (None, b"8", 400),
    ],
)
def test_invalid_handshake_never_reaches_the_app(
    key: bytes | None, version: bytes, status: int
) -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        raw = RawClient(srv.port, key=key, version=version)
        assert raw.status == status
        assert b"Failed to open a WebSocket connection" in raw.read_body()
        raw.close()
        assert reports.queue.empty()


def test_app_exception_before_accept_is_500() -> None:
    with (
        ws_server(ws_apps.failing_app(after_accept=False)) as srv,
        pytest.raises(InvalidStatus) as info,
    ):
        ws_connect(srv)
    assert info.value.response.status_code == 500


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "before accept"},
        {"type": "websocket.http.response.start", "status": 42, "headers": []},
    ],
    ids=["send-before-accept", "bad-denial-status"],
)
def test_app_breaking_the_handshake_order_is_500(message: dict[str, Any]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(message)

    with ws_server(app) as srv, pytest.raises(InvalidStatus) as info:
        ws_connect(srv)
    assert info.value.response.status_code == 500


# -- closing -------------------------------------------------------------------------------


def test_app_closes_with_code_and_reason() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        with ws_connect(srv) as ws:
            reports.get()
            ws.send("close 4001 see you")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=T)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "see you")
        reports.get()  # the "close" message itself
        assert reports.get() == (
            "after-close",
            {"type": "websocket.disconnect", "code": 4001, "reason": "see you"},
        )


def test_client_close_reaches_the_app_and_send_then_fails() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        with ws_connect(srv) as ws:
            reports.get()
            ws.close(4002, "done here")
        disconnect = {"type": "websocket.disconnect", "code": 4002, "reason": "done here"}
        assert reports.get() == ("message", disconnect)
        assert reports.get() == ("again", disconnect)
        kind, error = reports.get()
        assert kind == "send-error"
        assert isinstance(error, ClientDisconnected) and isinstance(error, OSError)


def test_close_frame_without_code_is_1005() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        raw = RawClient(srv.port)
        reports.get()
        raw.send_frame(Opcode.CLOSE, b"")
        assert raw.recv_frame() == (Opcode.CLOSE, b"")  # echoed as sent
        raw.wait_closed()  # the server closes TCP first
        raw.close()
        assert reports.get() == (
            "message",
            {"type": "websocket.disconnect", "code": 1005, "reason": ""},
        )


def test_lost_connection_is_1006() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports)) as srv:
        raw = RawClient(srv.port)
        reports.get()
        raw.close()
        assert reports.get() == (
            "message",
            {"type": "websocket.disconnect", "code": 1006, "reason": ""},
        )


def test_app_exception_after_accept_closes_1011() -> None:
    with ws_server(ws_apps.failing_app(after_accept=True)) as srv, ws_connect(srv) as ws:
        ws.send("trigger")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=T)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011


def test_app_returning_without_close_closes_1000() -> None:
    with ws_server(ws_apps.quitting_app) as srv, ws_connect(srv) as ws:
        assert ws.recv(timeout=T) == "hello"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=T)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_silent_peer_is_dropped_after_close_timeout() -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports), close_timeout=0.2) as srv:
        raw = RawClient(srv.port)
        reports.get()
        raw.send_frame(Opcode.TEXT, b"close 1000 bye")
        frame = raw.recv_frame()
        assert frame is not None and close_payload(frame[1]) == (1000, "bye")
        started = time.monotonic()
        raw.wait_closed(timeout=5)  # never answering the close: the server gives up
        assert time.monotonic() - started < 3
        raw.close()


def test_shutdown_closes_with_1012(loop_factory: Any) -> None:
    reports = Reports()
    with ws_server(ws_apps.recording_app(reports), loop_factory) as srv, ws_connect(srv) as ws:
        reports.get()
        server = srv.server
        assert server is not None
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(srv.call, lambda: server.shutdown(30.0))
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=T)
            stopping.result(timeout=T)
        assert time.monotonic() - started < 5  # closed, not waited out
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012
        assert reports.get()[1]["code"] == 1012


# -- keepalive -----------------------------------------------------------------------------


def test_server_pings_and_a_ponging_client_stays() -> None:
    # The app speaks only after 1 s; with pings every 0.05 s and 0.5 s to answer, the
    # connection survives only if the client's pongs are matched.
    app = ws_apps.slow_hello_app(1.0)
    with ws_server(app, ping_interval=0.05, ping_timeout=0.5) as srv, ws_connect(srv) as ws:
        assert ws.recv(timeout=T) == "still here"


def test_pings_from_the_server_on_the_wire() -> None:
    with ws_server(ws_apps.echo_app, ping_interval=0.05, ping_timeout=0.5) as srv:
        raw = RawClient(srv.port)
        payloads = []
        for _ in range(3):
            frame = raw.recv_frame()
            assert frame is not None and frame[0] is Opcode.PING
            payloads.append(frame[1])
            raw.send_frame(Opcode.PONG, frame[1])
        assert len(set(payloads)) == 3
        raw.send_frame(Opcode.PING, b"mine")
        frame = raw.recv_frame()
        while frame is not None and frame[0] is Opcode.PING:  # a server ping may come first
            raw.send_frame(Opcode.PONG, frame[1])
            frame = raw.recv_frame()
        assert frame == (Opcode.PONG, b"mine")
        raw.close()


def test_missing_pong_closes_1011() -> None:
    reports = Reports()
    app = ws_apps.recording_app(reports)
    with ws_server(app, ping_interval=0.1, ping_timeout=0.2) as srv:
        raw = RawClient(srv.port)
        reports.get()
        started = time.monotonic()
        frames = []
        while True:
            frame = raw.recv_frame(timeout=5)
            if frame is None:
                break
            frames.append(frame)
        assert time.monotonic() - started < 3
        assert frames[0][0] is Opcode.PING
        assert frames[-1][0] is Opcode.CLOSE
        assert close_payload(frames[-1][1]) == (1011, "keepalive ping timeout")
        raw.close()
        message = reports.get()[1]
        assert (message["type"], message["code"]) == ("websocket.disconnect", 1011)


# -- extensions and flow control -----------------------------------------------------------


def test_per_message_deflate_negotiated() -> None:
    with ws_server(ws_apps.echo_app) as srv, ws_connect(srv) as ws:
        assert "permessage-deflate" in response_headers(ws)["Sec-WebSocket-Extensions"]
        text = json.dumps([{"id": i, "name": "frontdesk"} for i in range(2000)])
        ws.send(text)
        assert ws.recv(timeout=T) == text
    with ws_server(ws_apps.echo_app, per_message_deflate=False) as srv, ws_connect(srv) as ws:
        assert "Sec-WebSocket-Extensions" not in response_headers(ws)
        ws.send("plain")
        assert ws.recv(timeout=T) == "plain"


def send_all(ws: ClientConnection, messages: list[str]) -> None:
    for message in messages:
        ws.send(message)


def test_max_queue_pauses_reading_until_the_app_reads() -> None:
    reports = Reports()
    count, size = 40, 32 * 1024  # more than one read of the socket holds

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        conn = ws_apps.connection_of(receive)
        reports.put(await ws_apps.wait_for(lambda: conn._read_paused))
        reports.put(len(conn._messages))
        received = [(await receive())["text"] for _ in range(count)]
        reports.put(received)
        reports.put(conn._read_paused)

    messages = [f"{i:02d}".ljust(size, ".") for i in range(count)]
    with (
        ws_server(app, max_queue=4) as srv,
        ws_connect(srv, compression=None) as ws,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        # Sent from a thread: once the server stops reading, these sends may block.
        sending = pool.submit(send_all, ws, messages)
        assert reports.get() is True  # reading paused
        assert 4 <= reports.get() < count
        assert reports.get() == messages
        assert reports.get() is False  # and resumed once read
        sending.result(timeout=T)


def test_send_waits_for_a_slow_reader() -> None:
    reports = Reports()
    paused = threading.Event()
    chunk = b"z" * 256 * 1024
    count = 64  # 16 MiB: far more than the socket buffers hold

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        conn = ws_apps.connection_of(receive)
        loop = asyncio.get_running_loop()

        def watch() -> None:  # tells the client once a send is held back
            if conn.write_paused:
                paused.set()
            elif not conn.closed:
                loop.call_later(0.005, watch)

        watch()
        largest = 0
        for i in range(count):
            await send({"type": "websocket.send", "bytes": bytes([i]) + chunk})
            largest = max(largest, conn.transport.get_write_buffer_size())
        reports.put(largest)
        await receive()

    options: dict[str, Any] = {"max_queue": 1, "max_size": None, "compression": None}
    with ws_server(app) as srv, ws_connect(srv, **options) as ws:
        assert paused.wait(T)  # the client reads nothing yet: the app's sends must wait
        for i in range(count):
            message = ws.recv(timeout=T)
            assert message[0] == i and len(message) == len(chunk) + 1
        # After each send returned, the buffer held at most one message above the mark.
        assert reports.get() < 64 * 1024 + 2 * len(chunk)


# -- several clients, and real frameworks --------------------------------------------------


def test_chat_broadcast_to_every_client(loop_factory: Any) -> None:
    room = ws_apps.ChatRoom()
    with ws_server(room, loop_factory) as srv, ExitStack() as stack:
        clients = []
        for i in range(4):
            ws = stack.enter_context(ws_connect(srv))
            clients.append(ws)
            assert ws.recv(timeout=T) == f"welcome {i + 1}"  # joined before the next
        for i, ws in enumerate(clients):
            ws.send(f"from {i}")
        expected = {f"from {i}" for i in range(4)}
        for ws in clients:
            assert {ws.recv(timeout=T) for _ in range(4)} == expected


def test_fastapi_websocket_endpoint_unmodified() -> None:
    reports = Reports()
    api = ws_apps.fastapi_app(reports)

    with ws_server(api) as srv:
        with ws_connect(srv, "/rooms/lobby?token=t1", subprotocols=["json"]) as ws:
            assert ws.subprotocol == "json"
            assert json.loads(ws.recv(timeout=T)) == {"room": "lobby", "token": "t1"}
            ws.send(json.dumps({"n": 1}))
            assert json.loads(ws.recv(timeout=T)) == {"echo": {"n": 1}}
            ws.send(json.dumps({"bye": True}))
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=T)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4100
        with ws_connect(srv, "/rooms/hall", subprotocols=["json"]) as ws:
            ws.recv(timeout=T)
            ws.close(4200)
        assert reports.get() == 4200
        with pytest.raises(InvalidStatus) as denied:
            ws_connect(srv, "/nowhere")
        assert denied.value.response.status_code == 403
