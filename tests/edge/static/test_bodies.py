"""File bodies on both loops: byte-exact, through Exchange.sendfile, and what happens when
the client leaves or the file is cut short under a response."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from typing import Any

import httpx
import pytest

from frontdesk.edge.static import StaticFiles
from frontdesk.edge.static.handler import INLINE_MAX
from frontdesk.http import Exchange
from tests.support.raw import exchange

from .support import HELLO, Tree, parse_answer, raw_request, static_server

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts ``Exchange.sendfile`` was asked to send."""
    calls: list[int] = []
    original = Exchange.sendfile

    async def counting(self: Exchange, file: Any, offset: int, count: int) -> None:
        calls.append(count)
        await original(self, file, offset, count)

    monkeypatch.setattr(Exchange, "sendfile", counting)
    return calls


def test_ten_megabytes_byte_exact(tree: Tree, loop_kind: str, sendfile_calls: list[int]) -> None:
    content = os.urandom(TEN_MB)
    (tree.static / "big.bin").write_bytes(content)
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            response = client.get("/static/big.bin")
            assert response.status_code == 200
            assert response.headers["content-length"] == str(TEN_MB)
            assert hashlib.sha256(response.content).digest() == hashlib.sha256(content).digest()
            # Twice on one keep-alive connection: the framing ended exactly.
            assert client.get("/static/big.bin").content == content
        raw = raw_request(server.port, b"/static/big.bin")
        assert raw.body == content
    assert sendfile_calls == [TEN_MB] * 3


def test_small_bodies_go_with_the_head(
    tree: Tree, loop_kind: str, sendfile_calls: list[int]
) -> None:
    (tree.static / "edge.bin").write_bytes(b"e" * INLINE_MAX)
    (tree.static / "over.bin").write_bytes(b"o" * (INLINE_MAX + 1))
    (tree.static / "zero.bin").write_bytes(b"")
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        assert raw_request(server.port, b"/static/hello.txt").body == HELLO
        assert raw_request(server.port, b"/static/edge.bin").body == b"e" * INLINE_MAX
        assert sendfile_calls == []
        assert raw_request(server.port, b"/static/over.bin").body == b"o" * (INLINE_MAX + 1)
        assert sendfile_calls == [INLINE_MAX + 1]
        zero = raw_request(server.port, b"/static/zero.bin")
        assert zero.status == 200 and zero.header("content-length") == "0"


def test_head_of_a_large_file_sends_no_body(tree: Tree, loop_kind: str) -> None:
    (tree.static / "big.bin").write_bytes(b"b" * 1_000_000)
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        answer = raw_request(server.port, b"/static/big.bin", method=b"HEAD")
        assert answer.status == 200 and answer.header("content-length") == "1000000"


def test_pipelined_requests_are_answered_in_order(tree: Tree, loop_kind: str) -> None:
    content = os.urandom(300_000)
    (tree.static / "mid.bin").write_bytes(content)
    requests = b"".join(
        b"GET /static/%s HTTP/1.1\r\nHost: t\r\n\r\n" % name
        for name in (b"mid.bin", b"hello.txt", b"nope", b"mid.bin")
    )
    last = b"GET /static/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        data = exchange(server.port, requests + last)
    bodies = []
    for _ in range(5):
        head, _, rest = data.partition(b"\r\n\r\n")
        answer = parse_answer(head + b"\r\n\r\n", head_only=True)
        length = int(answer.header("content-length") or 0)
        bodies.append(rest[:length])
        data = rest[length:]
    assert bodies == [content, HELLO, b"404 Not Found\n", content, HELLO]
    assert data == b""


def test_client_leaving_mid_body_releases_the_descriptor(tree: Tree, loop_kind: str) -> None:
    (tree.static / "big.bin").write_bytes(b"x" * (32 * 1024 * 1024))
    handler = StaticFiles("/static/", str(tree.root))
    with static_server(handler, loop_kind) as server:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        entry = handler.cache.lookup(str(tree.static / "big.bin"))
        deadline = time.monotonic() + 10
        while entry.refs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert entry.refs == 0
        # The server is fine and the descriptor still works for the next client.
        assert raw_request(server.port, b"/static/hello.txt").body == HELLO


def test_file_truncated_under_a_response_closes_the_connection(
    tree: Tree, loop_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Content-Length promised more than the file now holds: the only honest end is to close
    (otherwise the client would wait for bytes, or read the next response as body)."""
    size = 48 * 1024 * 1024
    path = tree.static / "shrinking.bin"
    path.write_bytes(b"s" * size)
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window: the server can get only a few megabytes ahead of us.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        with sock:
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /static/shrinking.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
            os.truncate(path, 1024 * 1024)
            received = 0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += len(chunk)
            assert time.monotonic() < deadline
            assert received < size
    assert any("truncated" in r.getMessage() or "shorter" in r.getMessage() for r in caplog.records)
