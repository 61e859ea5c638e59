"""``PreparedHead`` and ``Exchange.start_prepared``: the same answers as ``start`` gives for
the same fields (framing, HEAD, no-body statuses, Connection, Date, Server), with the checks
made once when the head is built; and the time stamps taken when the head is parsed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from frontdesk.errors import LocalProtocolError
from frontdesk.http import Exchange, PreparedHead
from tests.http.http_testkit import Client

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"

Script = Callable[[Exchange], Any]

PLAIN = PreparedHead(200, [(b"content-type", b"text/plain"), (b"etag", b'"x"')])
SIZED = PreparedHead(200, [(b"content-type", b"text/plain"), (b"content-length", b"5")])


def test_prepared_head_gets_length_date_server(server: Any) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start_prepared(PLAIN, [(b"server-timing", b"edge;dur=0.010")])
        exchange.end(b"hello")

    srv, handler = server(script)
    with Client(srv.port) as client:
        for _ in range(2):
            client.send(GET)
            response = client.read_response()
            assert response.status == 200
            assert response.body == b"hello"
            assert response.header(b"content-length") == b"5"
            assert response.header(b"content-type") == b"text/plain"
            assert response.header(b"etag") == b'"x"'
            assert response.header(b"server-timing") == b"edge;dur=0.010"
            assert response.header(b"date") is not None
            assert response.header(b"server") == b"frontdesk"
        client.send(HEAD)
        head = client.read_response("HEAD")
        assert head.header(b"content-length") == b"5" and head.body == b""  # as GET would
    assert handler.raised == []


def test_declared_length_is_held_and_head_sends_none(server: Any) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start_prepared(SIZED)
        if exchange.request.path == b"/long":
            exchange.end(b"too long")
        else:
            exchange.write(b"he")
            exchange.end(b"llo")

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(HEAD)
        head = client.read_response("HEAD")
        assert head.header(b"content-length") == b"5" and head.body == b""
        client.send(GET)
        response = client.read_response()
        assert response.body == b"hello"
        assert response.header_all(b"content-length") == [b"5"]
        client.send(b"GET /long HTTP/1.1\r\nHost: t\r\n\r\n")
        client.expect_eof()  # more than declared: the connection ends, no bad framing
    assert len(handler.raised) == 1 and isinstance(handler.raised[0], LocalProtocolError)


def test_framing_and_connection_fields_are_the_cores(server: Any) -> None:
    head = PreparedHead(
        200,
        [
            (b"Transfer-Encoding", b"chunked"),
            (b"Keep-Alive", b"timeout=1"),
            (b"Connection", b"close"),
            (b"x-kept", b"yes"),
        ],
    )
    assert head.block == b"x-kept: yes\r\n" and head.close and head.length == -1

    async def script(exchange: Exchange) -> None:
        exchange.start_prepared(head)
        exchange.write(b"streamed")
        exchange.end()

    srv, _ = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.body == b"streamed"
        assert response.header(b"transfer-encoding") == b"chunked"
        assert response.header(b"keep-alive") is None
        assert b"close" in response.connection_tokens()
        client.expect_eof()


def test_no_body_statuses_and_http10(server: Any) -> None:
    no_content = PreparedHead(204, [(b"content-length", b"3"), (b"x-a", b"1")])
    not_modified = PreparedHead(304, [(b"etag", b'"x"')])
    assert no_content.length == -1  # never a Content-Length on a 204

    async def script(exchange: Exchange) -> None:
        if exchange.request.path == b"/304":
            exchange.start_prepared(not_modified)
        elif exchange.request.version == "1.0":
            exchange.start_prepared(PLAIN)
            exchange.write(b"old")
        else:
            exchange.start_prepared(no_content)
        exchange.end()

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.status == 204 and response.header(b"content-length") is None
        client.send(b"GET /304 HTTP/1.1\r\nHost: t\r\n\r\n")
        response = client.read_response()
        assert response.status == 304 and response.body == b""
        assert response.header(b"etag") == b'"x"'
    with Client(srv.port) as client:
        client.send(GET10)
        assert client.read_to_eof().endswith(b"\r\n\r\nold")  # close-delimited
    assert handler.raised == []


@pytest.mark.parametrize(
    "fields",
    [
        [(b"bad name", b"v")],
        [(b"x", b"a\r\nInjected: 1")],
        [(b"x", b"nul\x00")],
        [(b"content-length", b"five")],
        [(b"content-length", b"1"), (b"content-length", b"2")],
    ],
)
def test_bad_fields_are_refused_when_prepared(fields: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(LocalProtocolError):
        PreparedHead(200, fields)


def test_bad_status_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        PreparedHead(103, [])
    with pytest.raises(ValueError):
        PreparedHead(1000, [])


def test_an_encoded_head_gives_its_fields_back_as_pairs() -> None:
    head = PreparedHead.encoded(200, b"x-up: 1\r\nset-cookie: a=b: c\r\n", 7)
    assert head.length == 7 and not head.close
    assert list(head.fields) == [
        (b"x-up", b"1"),
        (b"set-cookie", b"a=b: c"),
        (b"content-length", b"7"),
    ]
    assert list(PreparedHead.encoded(204, b"", -1).fields) == []
    with pytest.raises(LocalProtocolError):
        PreparedHead.encoded(101, b"", -1)


def test_extra_fields_are_checked_and_leave_the_exchange_unstarted(server: Any) -> None:
    outcomes: list[str] = []

    async def script(exchange: Exchange) -> None:
        try:
            exchange.start_prepared(PLAIN, [(b"x", b"a\r\nInjected: 1")])
        except LocalProtocolError:
            outcomes.append("refused")
        try:
            exchange.start_prepared(SIZED, [(b"content-length", b"6")])
        except LocalProtocolError:
            outcomes.append("differing")
        exchange.start(500, [])
        exchange.end(b"error")

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.status == 500 and response.header(b"injected") is None
    assert outcomes == ["refused", "differing"]
    assert handler.raised == []


def test_exchange_is_stamped_when_its_head_is_parsed(server: Any) -> None:
    stamps: list[tuple[float, float, float, float]] = []

    async def script(exchange: Exchange) -> None:
        stamps.append((exchange.received, exchange.received_at, time.perf_counter(), time.time()))
        exchange.start_prepared(PLAIN)
        exchange.end(b"")

    srv, _ = server(script)
    wall_before = time.time()
    with Client(srv.port) as client:
        client.send(GET + GET)  # pipelined: the second waits behind the first
        client.read_response()
        client.read_response()
    wall_after = time.time()
    assert len(stamps) == 2
    for received, received_at, handled, handled_at in stamps:
        assert received <= handled
        assert wall_before - 1 <= received_at <= handled_at + 1e-3
        assert received_at <= wall_after
    # Both heads arrived in one read: stamped before either was handled.
    assert stamps[1][0] <= stamps[0][2] + 1e-3
