"""start_response and the response body: validation, exc_info, framing, lengths, write()."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from frontdesk.interfaces.wsgi.response import (
    Response,
    encode_headers,
    parse_status,
    prepare_head,
)

from .helpers import fetch, get, read_reply, wsgi_server

HOP_BY_HOP = ["Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade"]


@pytest.mark.parametrize("status", ["200 OK", "404 Not Here", "299 ", "599 Custom\treason"])
def test_valid_status(status: str) -> None:
    assert parse_status(status) == int(status[:3])


@pytest.mark.parametrize(
    "status",
    ["200", "200OK", "OK 200", "2000 OK", "099 Low", "100 Continue", "200 O\nK", b"200 OK", 200],
)
def test_invalid_status(status: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_status(status)


@pytest.mark.parametrize(
    "headers",
    [
        (("Content-Type", "text/plain"),),  # not a list
        [("Content-Type",)],
        [["Content-Type", "text/plain"]],
        [(b"Content-Type", "text/plain")],
        [("Content-Type", b"text/plain")],
        [("Bad Name", "x")],
        [("Bad:Name", "x")],
        [("X-A", "a\r\nSet-Cookie: evil=1")],
        [("X-A", "a\nb")],
        [("X-A", "a\x00b")],
        [("X-A", "caf\u00e9 \u20ac")],  # not latin-1
        [("Content-Length", "12a")],
        [("Content-Length", "-1")],
        [("Content-Length", "5"), ("Content-Length", "6")],
        *([(name, "x")] for name in HOP_BY_HOP),
        *([(name.lower(), "x")] for name in HOP_BY_HOP),
    ],
)
def test_invalid_headers(headers: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_headers(headers)


def test_a_checked_header_remembered_lets_no_look_alike_through() -> None:
    # Field lines are remembered once checked; something equal but not of str, or
    # ill-formed in its own way, is checked and refused every time.
    class Text(str):
        pass

    good = [("X-Seen", "1"), ("Content-Length", "5")]
    for _ in range(2):
        assert encode_headers(good) == (b"X-Seen: 1\r\n", 5, True)
    for bad in ([(Text("X-Seen"), "1")], [("X-Seen", Text("1"))]):
        with pytest.raises(TypeError):
            encode_headers(bad)
    with pytest.raises(ValueError):
        encode_headers([("Content-Length", "5"), ("Content-Length", "6")])


def _started(status: Any, headers: Any) -> Response:
    response = Response(sink=None)  # type: ignore[arg-type]  # nothing is sent
    response.start_response(status, headers)
    return response


def test_a_head_remembered_lets_no_look_alike_through() -> None:
    # Whole heads are remembered too: a status or field equal to a remembered one but not of
    # str is refused all the same, and a tuple subclass passes the checks but is not trusted.
    class Text(str):
        pass

    class Pair(tuple):  # type: ignore[type-arg]
        pass

    good = [("X-Head", "1"), ("Content-Length", "5")]
    head = _started("200 OK", good).head
    assert head is not None and (head.status, head.block, head.length) == (200, b"X-Head: 1\r\n", 5)
    assert _started("200 OK", list(good)).head is head  # remembered
    for status, bad in [
        (Text("200 OK"), good),
        ("200 OK", [(Text("X-Head"), "1"), ("Content-Length", "5")]),
        ("200 OK", [("X-Head", "1"), ("Content-Length", Text("5"))]),
    ]:
        with pytest.raises(TypeError):
            _started(status, bad)
    look_alike = _started("200 OK", [Pair(("X-Head", "1")), ("Content-Length", "5")])
    assert look_alike.head is not head and look_alike.remaining == 5
    with pytest.raises(TypeError):
        _started("200 OK", [["X-Head", "1"]])  # unhashable: refused by the checks


def test_a_204_head_carries_no_length() -> None:
    response = _started("204 No Content", [("Content-Length", "0")])
    assert response.head is not None and response.head.length == -1
    assert response.remaining == 0
    code, head, length = prepare_head("304 Not Modified", [("Content-Length", "7")])
    assert (code, head.length, length) == (304, 7, 7)


def test_headers_encoded_latin1() -> None:
    block, length, _ = encode_headers([("X-Name", "caf\xe9"), ("Content-Length", "3")])
    assert block == b"X-Name: caf\xe9\r\n"
    assert length == 3


def start_with(status: Any, headers: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"body"]

    return app


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("200 OK", [("Connection", "close")]),
        ("200 OK", [("X-A", "a\r\nX-B: b")]),
        ("200 OK", [("Transfer-Encoding", "chunked")]),
    ],
)
def test_refused_start_response_gives_500_and_a_traceback(
    threads: int, status: str, headers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with wsgi_server(start_with(status, headers), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 500
    assert reply.body == b"Internal Server Error\n"
    assert b"X-B" not in reply.raw_body and "x-b" not in reply.headers
    errors = [r for r in caplog.records if r.name == "frontdesk.wsgi" and r.exc_info]
    assert len(errors) == 1 and "Exception in WSGI application" in errors[0].getMessage()


def test_exc_info_replaces_a_head_not_yet_sent(threads: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        yield b""  # nothing sent yet: the head can still change
        try:
            raise KeyError("boom")
        except KeyError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b"sorry"

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 503
    assert "x-first" not in reply.headers
    assert reply.body == b"sorry"


def test_exc_info_after_the_head_went_out_reraises(
    threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise KeyError("late failure")
        except KeyError:
            start_response("500 Oops", [], sys.exc_info())
        yield b"never"

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 200
    assert reply.body == b"partial" and not reply.complete  # the connection was closed
    errors = [r for r in caplog.records if r.exc_info]
    assert len(errors) == 1 and "late failure" in str(errors[0].exc_info[1])


def test_second_start_response_without_exc_info_is_an_error(threads: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b"x"]

    with wsgi_server(app, threads=threads) as srv:
        assert get(srv.port).status == 500


def test_write_callable(threads: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"legacy ")
        write(b"")
        write(b"write, ")
        return [b"then the iterable"]

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    assert reply.chunked
    assert reply.body == b"legacy write, then the iterable"


def body_app(
    body: Any, headers: list[tuple[str, str]] | None = None, status: str = "200 OK"
) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, [("Content-Type", "text/plain"), *(headers or [])])
        return body() if callable(body) else body

    return app


def gen(*parts: bytes) -> Any:
    def make() -> Iterator[bytes]:
        yield from parts

    return make


@pytest.mark.parametrize(
    ("body", "framing"),
    [
        ([b"one element"], "content-length: 11"),
        ((b"a tuple", b" of two"), "content-length: 14"),
        ([b"a ", b"", b"list ", b"of four"], "content-length: 14"),
        ([], "content-length: 0"),
        (gen(b"a ", b"generator"), "transfer-encoding: chunked"),
        (gen(), "content-length: 0"),
    ],
)
def test_framing_http11(threads: int, body: Any, framing: str) -> None:
    with wsgi_server(body_app(body), threads=threads) as srv:
        reply = get(srv.port)
    assert framing in reply.status_line + "\r\n" + "\r\n".join(f"{n}: {v}" for n, v in reply.fields)
    assert reply.complete


def test_generator_on_http10_is_close_delimited(threads: int) -> None:
    with wsgi_server(body_app(gen(b"a ", b"b")), threads=threads) as srv:
        reply = get(srv.port, version="1.0")
    assert "transfer-encoding" not in reply.headers and "content-length" not in reply.headers
    assert reply.headers["connection"] == "close"
    assert reply.body == b"a b"


def test_head_gets_the_length_and_no_body(threads: int) -> None:
    with wsgi_server(body_app([b"twelve bytes"]), threads=threads) as srv:
        reply = fetch(srv.port, b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert reply.headers["content-length"] == "12"
    assert reply.raw_body == b""


def test_no_more_than_content_length(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    pulled: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(100):
            pulled.append(i)
            yield b"hello world"

    with wsgi_server(body_app(body, [("Content-Length", "5")]), threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        for _ in range(2):  # the response was whole, so the connection stays usable
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reply = read_reply(sock)
            assert reply.headers["content-length"] == "5"
            assert reply.raw_body == b"hello"
        sock.close()
    assert len(pulled) == 2  # the iterable was not drained past the excess
    assert any("more than its Content-Length" in r.getMessage() for r in caplog.records)


def test_fewer_than_content_length_closes(threads: int) -> None:
    with wsgi_server(body_app(gen(b"short"), [("Content-Length", "10")]), threads=threads) as srv:
        reply = get(srv.port)  # would time out if the connection stayed open
    assert reply.raw_body == b"short" and not reply.complete


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses_send_none(threads: int, status: str) -> None:
    with wsgi_server(body_app([b"dropped"], status=status), threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"\r\n\r\n"):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        sock.close()
    assert b"dropped" not in data
    assert data.count(status.split(" ")[0].encode()) == 2


@pytest.mark.parametrize(
    "body",
    [["a str"], [b"ok", "then a str"], b"bytes, not an iterable of bytes", [None]],
    ids=["str", "str-later", "bytes", "none"],
)
def test_body_chunks_must_be_bytes(threads: int, body: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter(body) if isinstance(body, list) else body

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    if body == [b"ok", "then a str"]:
        assert reply.status == 200 and not reply.complete  # went out, then cut
    else:
        assert reply.status == 500


def test_bytes_like_chunks_are_accepted(threads: int) -> None:
    with wsgi_server(body_app([bytearray(b"byte"), memoryview(b"array")]), threads=threads) as srv:
        assert get(srv.port).body == b"bytearray"


def test_reason_phrase_is_the_servers(threads: int) -> None:
    with wsgi_server(
        start_with("404 Nothing Here", [("Content-Type", "text/plain")]), threads=threads
    ) as srv:
        reply = get(srv.port)
    assert reply.status_line == "HTTP/1.1 404 Not Found"


def test_app_headers_kept_in_order_with_case(threads: int) -> None:
    headers = [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("X-Mixed-Case", "v"),
        ("Set-Cookie", "b=2"),
    ]
    with (
        wsgi_server(start_with("200 OK", headers), threads=threads) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = read_reply(sock)
    assert b"\r\nSet-Cookie: a=1\r\nX-Mixed-Case: v\r\nSet-Cookie: b=2\r\n" in reply.head


def test_response_error_logged_once(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    app = start_with("200 OK", [("Bad Name", "x")])
    with caplog.at_level(logging.WARNING), wsgi_server(app, threads=threads) as srv:
        assert get(srv.port).status == 500
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
