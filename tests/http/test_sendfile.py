"""``Exchange.sendfile`` on both loops: byte-exact bodies in every framing, order with bytes
queued before the file, back-pressure from a slow reader, a client leaving mid-body, and a
file shorter than promised. On uvloop (no ``loop.sendfile``) the body goes by ``os.sendfile``
straight to the socket; these tests check that it does, and that it keeps every rule the
copying path kept."""

from __future__ import annotations

import os
import socket
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from frontdesk.errors import ClientDisconnected, LocalProtocolError
from frontdesk.http import Exchange
from frontdesk.http import exchange as exchange_module
from frontdesk.http import sendfile as sendfile_module
from tests.http.http_testkit import Client, poll

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
SIZE = 6 * 1024 * 1024 + 123

Script = Callable[[Exchange], Any]


@pytest.fixture(scope="module")
def content() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def body_file(content: bytes, tmp_path: Path) -> Iterator[BinaryIO]:
    path = tmp_path / "body.bin"
    path.write_bytes(content)
    with path.open("rb") as file:
        yield file


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each way of sending a file ran (counted on the server's loop)."""
    counts = {"direct": 0, "copy": 0, "waits": 0, "flushes": 0}

    def counting(owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name)

        async def wrapper(*args: Any) -> None:
            counts[key] += 1
            await original(*args)

        monkeypatch.setattr(owner, name, wrapper)

    counting(exchange_module, "send_direct", "direct")
    counting(Exchange, "_copy_file", "copy")
    counting(sendfile_module, "wait_writable", "waits")
    counting(sendfile_module, "flush", "flushes")
    return counts


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_file_body_is_byte_exact_under_back_pressure(
    server: Any, loop_kind: str, body_file: BinaryIO, content: bytes, paths: dict[str, int]
) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start(200, [(b"content-type", b"application/octet-stream")])
        await exchange.sendfile(body_file, 0, SIZE)
        exchange.end()

    srv, handler = server(script)
    # A small receive window: the socket fills long before the body is through.
    with Client(srv.port, rcvbuf=8192) as client:
        for _ in range(2):  # twice on one connection: the framing ended exactly
            client.send(GET)
            if loop_kind == "uvloop":
                # Not reading yet: the body (more than any socket buffer) must wait for room.
                assert poll(lambda: paths["waits"] > 0)
            response = client.read_response()
            assert response.status == 200
            assert response.header(b"content-length") == b"%d" % SIZE
            assert response.body == content
    assert handler.raised == []
    if loop_kind == "uvloop":
        assert paths["direct"] == 2 and paths["copy"] == 0
        assert paths["waits"] > 0  # the socket pushed back, and sending went on after
    else:
        assert paths["direct"] == 0


def test_ranges_and_chunked_framing(
    server: Any, loop_kind: str, body_file: BinaryIO, content: bytes, paths: dict[str, int]
) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        exchange.write(b"<")  # no length known: chunked, and a byte queued before the file
        await exchange.sendfile(body_file, 1000, 70_000)
        await exchange.sendfile(body_file, SIZE - 5, 5)
        exchange.end(b">")

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
    assert response.header(b"transfer-encoding") == b"chunked"
    assert response.body == b"<" + content[1000:71_000] + content[-5:] + b">"
    assert handler.raised == []
    if loop_kind == "uvloop":
        assert paths["direct"] == 2 and paths["copy"] == 0


def test_bytes_queued_before_the_file_go_first(
    server: Any, loop_kind: str, body_file: BinaryIO, content: bytes, paths: dict[str, int]
) -> None:
    """Megabytes written through the transport while the client does not read stay queued
    in it; the file must wait for them rather than overtake them on the socket."""
    queued = bytes(range(256)) * 16384  # 4 MiB

    async def script(exchange: Exchange) -> None:
        exchange.start(200, [(b"content-length", b"%d" % (len(queued) + SIZE))])
        exchange.write(queued)
        await exchange.sendfile(body_file, 0, SIZE)
        exchange.end()

    srv, handler = server(script)
    with Client(srv.port, rcvbuf=8192) as client:
        client.send(GET)
        assert srv.wait_until(lambda: bool(handler.exchanges))
        response = client.read_response()
    assert response.body == queued + content
    assert handler.raised == []
    if loop_kind == "uvloop":
        assert paths["direct"] == 1 and paths["flushes"] == 1


def test_pipelined_file_answers_keep_their_order(
    server: Any, body_file: BinaryIO, content: bytes
) -> None:
    async def script(exchange: Exchange) -> None:
        if exchange.request.path == b"/small":
            exchange.start(200, [])
            exchange.end(b"small")
            return
        exchange.start(200, [])
        await exchange.sendfile(body_file, 0, SIZE)
        exchange.end()

    srv, handler = server(script)
    small = b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n"
    with Client(srv.port, rcvbuf=8192) as client:
        client.send(small + GET + small + GET + small)
        bodies = [client.read_response().body for _ in range(5)]
    assert bodies == [b"small", content, b"small", content, b"small"]
    assert handler.raised == []


def test_head_and_empty_ranges_send_no_body(server: Any, body_file: BinaryIO) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        await exchange.sendfile(body_file, 0, SIZE if exchange.request.method == "HEAD" else 0)
        exchange.end()

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(HEAD)
        head = client.read_response("HEAD")
        assert head.header(b"content-length") == b"%d" % SIZE and head.body == b""
        client.send(GET)
        empty = client.read_response()
        assert empty.header(b"content-length") == b"0" and empty.body == b""
    assert handler.raised == []


def test_client_leaving_mid_body(
    server: Any, loop_kind: str, body_file: BinaryIO, paths: dict[str, int]
) -> None:
    """A reset while the server waits on a full socket: the send ends with ClientDisconnected,
    no descriptor is left behind, and the loop logs nothing."""
    outcomes: list[str] = []

    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        try:
            await exchange.sendfile(body_file, 0, SIZE)
        except ClientDisconnected:
            outcomes.append("disconnected")
            return
        exchange.end()
        outcomes.append("sent")

    srv, handler = server(script)
    before = open_fds()
    for _ in range(3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(GET)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        if loop_kind == "uvloop":
            assert poll(lambda: paths["waits"] > 0)
        # Close with a reset (linger 0), not a polite FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert poll(lambda: len(outcomes) + len(handler.raised) == 3), handler.raised
    if loop_kind == "uvloop":
        assert outcomes == ["disconnected"] * 3
    assert poll(lambda: srv.connection_count() == 0)
    assert poll(lambda: open_fds() <= before)
    assert handler.raised == []
    # The server still answers.
    with Client(srv.port) as client:
        client.send(HEAD)
        assert client.read_response("HEAD").status == 200


def test_file_shorter_than_the_count_closes(
    server: Any, loop_kind: str, body_file: BinaryIO
) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        await exchange.sendfile(body_file, SIZE - 10, 20)

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        data = client.read_to_eof()
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 20\r\n" in data
    assert len(data.partition(b"\r\n\r\n")[2]) < 20
    assert len(handler.raised) == 1
    if loop_kind == "uvloop":
        assert isinstance(handler.raised[0], LocalProtocolError)


def test_in_memory_file_is_copied(server: Any, paths: dict[str, int]) -> None:
    """A file with no descriptor still works, by the copying path."""
    import io

    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        await exchange.sendfile(io.BytesIO(b"0123456789"), 2, 5)
        exchange.end()

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        assert client.read_response().body == b"23456"
    assert handler.raised == []
    assert paths["direct"] == 0


def test_tempfile_descriptor_closed_after(server: Any, loop_kind: str, content: bytes) -> None:
    """The duplicate descriptor polled for writability never outlives one send."""
    with tempfile.TemporaryFile() as file:
        file.write(content)
        file.flush()

        async def script(exchange: Exchange) -> None:
            exchange.start(200, [])
            await exchange.sendfile(file, 0, SIZE)
            exchange.end()

        srv, _ = server(script)
        with Client(srv.port, rcvbuf=65536) as client:
            client.send(GET)
            assert client.read_response().body == content
            before = open_fds()  # the connection's own descriptors are all open by now
            for _ in range(3):
                client.send(GET)
                assert client.read_response().body == content
            assert poll(lambda: open_fds() <= before)
