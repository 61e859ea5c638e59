"""wsgi.input: file semantics, end of body, chunked bodies, 100-continue, streaming, bounds."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import threading
from tempfile import SpooledTemporaryFile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.http import HttpLimits
from frontdesk.interfaces.wsgi.input import StreamInput
from tests.support.raw import read_until_closed

from .helpers import Reply, fetch, read_reply, wait_until, wsgi_server


def pieces_fetch(data: bytes, sizes: list[int]) -> tuple[Any, list[int]]:
    """A ``fetch`` handing out ``data`` in pieces of the given sizes; counts its calls."""
    cuts: list[bytes] = []
    offset = 0
    for size in sizes:
        if offset >= len(data):
            break
        cuts.append(data[offset : offset + max(size, 1)])
        offset += max(size, 1)
    if offset < len(data):
        cuts.append(data[offset:])
    calls = [0]

    def fetch() -> bytes:
        calls[0] += 1
        return cuts.pop(0) if cuts else b""

    return fetch, calls


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.one_of(st.none(), st.integers(-1, 40))),
        st.tuples(st.just("readline"), st.one_of(st.none(), st.integers(-1, 40))),
        st.tuples(st.just("readlines"), st.one_of(st.none(), st.integers(-1, 60))),
        st.tuples(st.just("next"), st.none()),
    ),
    max_size=12,
)


@given(
    body=st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n")),
    sizes=st.lists(st.integers(1, 50), max_size=20),
    initial=st.integers(0, 30),
    ops=_OPS,
)
def test_stream_input_reads_like_a_file(
    body: bytes, sizes: list[int], initial: int, ops: list[tuple[str, int | None]]
) -> None:
    fetch, _ = pieces_fetch(body[initial:], sizes)
    stream = StreamInput(fetch, body[:initial], eof=initial >= len(body))
    reference = io.BytesIO(body)
    for op, arg in ops:
        if op == "next":
            assert next(stream, None) == next(reference, None)
        else:
            assert getattr(stream, op)(arg) == getattr(reference, op)(arg), (op, arg)
    assert stream.read() == reference.read()
    assert stream.read(5) == b"" and stream.readline() == b""


def test_stream_input_fetches_only_what_is_asked_for() -> None:
    body = b"x" * (1024 * 1024)
    fetch, calls = pieces_fetch(body, [1024] * 1024)
    stream = StreamInput(fetch)
    assert stream.read(10) == b"x" * 10
    assert calls[0] == 1
    assert stream.readline(2000) == b"x" * 2000
    assert calls[0] == 2  # 1014 bytes left over, then one more piece
    assert list(stream) == [body[2010:]]


def reader_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    stream = environ["wsgi.input"]
    if environ["PATH_INFO"] == "/iter":
        parts = [line.decode() for line in stream]
    else:
        parts = [
            stream.read(3).decode(),
            stream.readline().decode(),
            stream.readline(2).decode(),
            [line.decode() for line in stream.readlines(1)],
            stream.read().decode(),
            stream.read(10).decode(),
            stream.readline().decode(),
        ]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(parts).encode()]


BODY = b"abcdef\nxyz\nline3\nline4\nlast"


def post(port: int, path: str, body: bytes, chunked: bool = False) -> Reply:
    if chunked:
        framing = b"Transfer-Encoding: chunked\r\n"
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 5]), body[i : i + 5])
            for i in range(0, len(body), 5)
        )
        payload += b"0\r\n\r\n"
    else:
        framing = b"Content-Length: %d\r\n" % len(body)
        payload = body
    head = b"POST %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n" % (path.encode(), framing)
    return fetch(port, head + payload)


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_read_methods_and_end_of_body(threads: int, chunked: bool) -> None:
    with wsgi_server(reader_app, threads=threads) as srv:
        parts = post(srv.port, "/", BODY, chunked).json()
        lines = post(srv.port, "/iter", BODY, chunked).json()
    assert parts == ["abc", "def\n", "xy", ["z\n"], "line3\nline4\nlast", "", ""]
    assert lines == ["abcdef\n", "xyz\n", "line3\n", "line4\n", "last"]


def digest_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    size = 0
    while True:
        data = stream.read(65536)
        if not data:
            break
        digest.update(data)
        size += len(data)
    rolled = getattr(stream, "_rolled", None)  # SpooledTemporaryFile: moved to disk?
    kind = type(stream).__name__
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps([size, digest.hexdigest(), kind, rolled]).encode()]


def test_large_body_is_spooled_to_disk_inline() -> None:
    payload = bytes(range(256)) * 4096 * 3  # 3 MiB
    with wsgi_server(digest_app, threads=1, spool_memory=256 * 1024) as srv:
        size, digest, kind, rolled = post(srv.port, "/", payload).json()
        small = post(srv.port, "/", b"tiny").json()
    assert (size, digest) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert kind == SpooledTemporaryFile.__name__ and rolled is True
    assert small[0] == 4


def test_large_chunked_body_streams_in_threads() -> None:
    payload = bytes(range(256)) * 4096 * 3
    with wsgi_server(digest_app, threads=4) as srv:
        size, digest, kind, _ = post(srv.port, "/", payload, chunked=True).json()
    assert (size, digest) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert kind == "StreamInput"


def continue_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(4) if environ["PATH_INFO"] == "/read" else b"not read"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


HEAD_CONTINUE = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"


def test_100_continue_on_first_read(threads: int) -> None:
    with wsgi_server(continue_app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(HEAD_CONTINUE % b"/read")
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        reply = read_reply(sock)
        sock.close()
    assert reply.status == 200 and reply.body == b"data"


def test_no_100_continue_when_the_app_does_not_read() -> None:
    # Threads mode calls the app before the body: it can answer without it.
    with wsgi_server(continue_app, threads=4) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(HEAD_CONTINUE % b"/skip")
        raw = read_until_closed(sock)  # the unread body closes the connection afterwards
        sock.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"not read")


def test_body_streams_while_the_app_reads_in_threads() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        stream = environ["wsgi.input"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        while line := stream.readline():
            yield b"got " + line  # answered before the client sends the next line

    with wsgi_server(app, threads=4) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        received = b""
        for word in (b"one", b"two", b"three"):
            sock.sendall(b"%x\r\n%s\n\r\n" % (len(word) + 1, word))
            while b"got " + word not in received:
                data = sock.recv(4096)
                assert data, received
                received += data
        sock.sendall(b"0\r\n\r\n")
        received += read_until_closed(sock)
        sock.close()
    assert Reply(received).body == b"got one\ngot two\ngot three\n"


def test_client_leaving_mid_body(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    outcome: dict[str, Any] = {}
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", [])
            return [b"ok"]
        entered.set()
        try:
            environ["wsgi.input"].read(1000)
        except OSError as exc:
            outcome["error"] = exc
            raise
        start_response("200 OK", [])
        return [b"unexpected"]

    with wsgi_server(app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\npartial")
        if threads > 1:
            wait_until(entered.is_set)
        sock.close()
        if threads > 1:
            wait_until(lambda: "error" in outcome)
        # The server is still well: the next request is served.
        assert post(srv.port, "/ok", b"").body == b"ok"
    if threads == 1:
        assert not entered.is_set()  # inline: the app only ever sees whole bodies
    else:
        assert isinstance(outcome["error"], OSError)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_body_over_the_limit(threads: int) -> None:
    seen: list[str] = []
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            seen.append(str(exc))
            raise
        start_response("200 OK", [])
        return [b"unexpected"]

    limits = HttpLimits(request_body=1000)
    with wsgi_server(app, threads=threads, limits=limits) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        if threads > 1:
            wait_until(entered.is_set)  # the app is reading when the body goes past the limit
        sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n")
        reply = Reply(read_until_closed(sock))
        sock.close()
        if threads > 1:
            wait_until(lambda: seen)
    assert reply.status == 413
    if threads > 1:
        assert "could not be read" in seen[0]
    else:
        assert not entered.is_set()
