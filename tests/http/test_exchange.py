"""The response side of ``Exchange``: framing (RFC 9112 6), bodies HTTP forbids (RFC 9110 6.4.1,
9.3.2, 15.3.5, 15.4.5), the app held to its Content-Length, header injection, trailers,
interim responses, Date (RFC 9110 6.6.1) and Server."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from frontdesk.errors import LocalProtocolError
from frontdesk.http import Exchange, HttpLimits
from tests.http.http_testkit import Client, Closed, Scripted, ServerThread, poll

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET10_KEEP = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
GET_TRAILERS = b"GET / HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n"

Script = Callable[[Exchange], Any]


@pytest.fixture
def server(loop_kind: str) -> Iterator[Callable[[Script], tuple[ServerThread, Scripted]]]:
    """Start a server running a script; stopped (and checked for logged errors) afterwards."""
    started: list[ServerThread] = []

    def make(script: Script, limits: HttpLimits | None = None) -> tuple[ServerThread, Scripted]:
        handler = Scripted(script)
        srv = ServerThread(handler, limits or HttpLimits(keepalive_timeout=5), loop_kind)
        started.append(srv.start())
        return srv, handler

    yield make
    for srv in started:
        srv.stop()
        assert srv.errors == []


def follow_up_works(
    client: Client, request: bytes = GET, method: str = "GET", status: int = 200
) -> None:
    """The connection is still in step: another request gets a well-framed answer."""
    client.send(request)
    response = client.read_response(method)
    assert response.status == status


# -- framing -----------------------------------------------------------------------------


async def known_length(exchange: Exchange) -> None:
    exchange.start(200, [(b"content-type", b"text/plain")])
    exchange.end(b"hello")


def test_whole_body_known_gets_content_length(server: Any) -> None:
    srv, _ = server(known_length)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.framing == "length"
        assert response.header(b"content-length") == b"5"
        assert response.body == b"hello"
        assert b"close" not in response.connection_tokens()
        follow_up_works(client)


async def declared_length(exchange: Exchange) -> None:
    exchange.start(200, [(b"Content-Length", b"5")])
    exchange.write(b"he")
    exchange.write(b"")
    exchange.end(b"llo")


def test_declared_length_is_kept(server: Any) -> None:
    srv, _ = server(declared_length)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.header(b"content-length") == b"5"
        assert response.body == b"hello"
        follow_up_works(client)


async def streamed(exchange: Exchange) -> None:
    exchange.start(200, [(b"transfer-encoding", b"gzip"), (b"keep-alive", b"timeout=99")])
    exchange.write(b"abc")
    exchange.write(b"")  # an empty write must not end the chunked body
    exchange.write(b"defg")
    exchange.end()


def test_unknown_length_is_chunked_on_http11(server: Any) -> None:
    srv, _ = server(streamed)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.framing == "chunked"
        assert response.body == b"abcdefg"
        assert response.header(b"keep-alive") is None  # framing is the server's own
        follow_up_works(client)


def test_unknown_length_is_close_delimited_on_http10(server: Any) -> None:
    srv, _ = server(streamed)
    with Client(srv.port) as client:
        client.send(GET10_KEEP)
        response = client.read_response()
        assert response.framing == "close"
        assert response.header(b"transfer-encoding") is None
        assert b"close" in response.connection_tokens()
        assert response.body == b"abcdefg"


def test_http10_keep_alive_with_known_length(server: Any) -> None:
    srv, _ = server(known_length)
    with Client(srv.port) as client:
        for _ in range(3):
            client.send(GET10_KEEP)
            response = client.read_response()
            assert response.header(b"content-length") == b"5"
            assert b"keep-alive" in response.connection_tokens()
        client.send(GET10)
        response = client.read_response()
        assert b"close" in response.connection_tokens()
        client.expect_eof()


async def app_says_close(exchange: Exchange) -> None:
    exchange.start(200, [(b"Connection", b"close")])
    exchange.end(b"bye")


def test_app_connection_close_is_honoured(server: Any) -> None:
    srv, _ = server(app_says_close)
    with Client(srv.port) as client:
        client.send(GET + GET)
        response = client.read_response()
        assert response.connection_tokens() == {b"close"}
        assert response.body == b"bye"
        client.expect_eof()


# -- bodies that must not be sent ----------------------------------------------------------


def test_head_gets_length_and_no_body(server: Any) -> None:
    srv, _ = server(known_length)
    with Client(srv.port) as client:
        client.send(HEAD)
        response = client.read_response("HEAD")
        assert response.header(b"content-length") == b"5"
        follow_up_works(client)  # a stray body would be read as this response's start


def test_head_streamed_sends_no_body(server: Any) -> None:
    srv, _ = server(streamed)
    with Client(srv.port) as client:
        client.send(HEAD)
        response = client.read_response("HEAD")
        assert response.status == 200
        assert response.header(b"content-length") is None
        follow_up_works(client, HEAD, "HEAD")
        follow_up_works(client)


def test_head_with_declared_length(server: Any) -> None:
    srv, _ = server(declared_length)
    with Client(srv.port) as client:
        client.send(HEAD)
        response = client.read_response("HEAD")
        assert response.header(b"content-length") == b"5"
        follow_up_works(client)


def make_status(status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Script:
    async def script(exchange: Exchange) -> None:
        exchange.start(status, headers)
        exchange.end(body)

    return script


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (204, []),
        (204, [(b"content-length", b"0")]),  # RFC 9110 8.6: never a Content-Length on a 204
        (304, [(b"etag", b'"v1"')]),
        (205, []),
    ],
)
def test_no_body_statuses(server: Any, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    srv, _ = server(make_status(status, headers))
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.status == status
        assert response.body == b""
        if status == 205:
            # RFC 9110 15.3.6: a 205 has no content; framed by a zero length (or none at all).
            assert response.header(b"content-length") in (b"0", None)
        follow_up_works(client, status=status)


def test_304_may_carry_the_representation_length(server: Any) -> None:
    srv, _ = server(make_status(304, [(b"content-length", b"1234")]))
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.status == 304
        assert response.header(b"content-length") in (b"1234", None)
        follow_up_works(client, status=304)


# -- the app held to its Content-Length ---------------------------------------------------


async def overrun_by_write(exchange: Exchange) -> None:
    exchange.start(200, [(b"content-length", b"3")])
    exchange.write(b"ab")
    exchange.write(b"cdef")


async def overrun_by_first_write(exchange: Exchange) -> None:
    exchange.start(200, [(b"content-length", b"3")])
    exchange.write(b"abcdef")


async def overrun_by_end(exchange: Exchange) -> None:
    exchange.start(200, [(b"content-length", b"3")])
    exchange.end(b"abcd")


async def body_on_204(exchange: Exchange) -> None:
    exchange.start(204, [])
    exchange.write(b"not allowed")


@pytest.mark.parametrize(
    "script", [overrun_by_write, overrun_by_first_write, overrun_by_end, body_on_204]
)
def test_body_the_framing_cannot_carry_is_an_error_and_closes(server: Any, script: Any) -> None:
    srv, handler = server(script)
    with Client(srv.port, timeout=5) as client:
        client.send(GET)
        data = client.read_to_eof()  # the core must close, not wait for the app
    assert poll(lambda: len(handler.raised) == 1, 5)
    assert isinstance(handler.raised[0], LocalProtocolError)
    _head, _, body = data.partition(b"\r\n\r\n")
    assert b"cdef" not in body and b"abcd" not in body and b"not allowed" not in body


async def underrun(exchange: Exchange) -> None:
    exchange.start(200, [(b"content-length", b"10")])
    exchange.end(b"12345")


def test_fewer_bytes_than_declared_closes(server: Any) -> None:
    srv, _ = server(underrun)
    with Client(srv.port, timeout=5) as client:
        client.send(GET)
        with pytest.raises(Closed):
            client.read_response()


# -- header injection -----------------------------------------------------------------------

BAD_FIELDS = [
    (b"x-evil", b"a\r\nInjected: 1"),
    (b"x-evil", b"a\nInjected: 1"),
    (b"x-evil", b"a\rInjected: 1"),
    (b"x-evil", b"a\x00b"),
    (b"x-evil\r\nInjected", b"1"),
    (b"x evil", b"1"),
    (b"x-evil:", b"1"),
    (b"", b"1"),
]


@pytest.mark.parametrize("field", BAD_FIELDS)
def test_header_injection_is_refused(server: Any, field: tuple[bytes, bytes]) -> None:
    async def script(exchange: Exchange) -> None:
        try:
            exchange.start(200, [(b"x-fine", b"1"), field])
        except LocalProtocolError:
            # A refused start leaves the exchange as it was: the app can still answer.
            exchange.start(500, [])
            exchange.end(b"refused")
            raise

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.status == 500
        assert response.body == b"refused"
        assert not any(b"injected" in name for name, _ in response.headers)
        assert response.header(b"x-fine") is None
    assert poll(lambda: len(handler.raised) == 1, 5)
    assert isinstance(handler.raised[0], LocalProtocolError)


@pytest.mark.parametrize("field", BAD_FIELDS[:5])
def test_trailer_injection_is_refused(server: Any, field: tuple[bytes, bytes]) -> None:
    async def script(exchange: Exchange) -> None:
        exchange.start(200, [])
        exchange.write(b"body")
        exchange.end(b"", trailers=[field])

    srv, handler = server(script)
    with Client(srv.port, timeout=5) as client:
        client.send(GET_TRAILERS)
        data = client.read_to_eof()
    assert b"Injected" not in data
    assert poll(lambda: len(handler.raised) == 1, 5)
    assert isinstance(handler.raised[0], LocalProtocolError)


@pytest.mark.parametrize("field", BAD_FIELDS[:5])
def test_informational_injection_is_refused(server: Any, field: tuple[bytes, bytes]) -> None:
    async def script(exchange: Exchange) -> None:
        try:
            exchange.send_informational(103, [field])
        finally:
            exchange.start(200, [])
            exchange.end(b"ok")

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(GET)
        interim, response = client.read_final()
        assert interim == []
        assert response.body == b"ok"
    assert poll(lambda: len(handler.raised) == 1, 5)


# -- trailers and interim responses -------------------------------------------------------


async def with_trailers(exchange: Exchange) -> None:
    exchange.start(200, [(b"trailer", b"x-checksum")])
    exchange.write(b"abc")
    exchange.end(b"def", trailers=[(b"x-checksum", b"900150983cd24fb0")])


def test_trailers_sent_when_client_accepts_them(server: Any) -> None:
    srv, _ = server(with_trailers)
    with Client(srv.port) as client:
        client.send(GET_TRAILERS)
        response = client.read_response()
        assert response.framing == "chunked"
        assert response.body == b"abcdef"
        assert response.trailers == [(b"x-checksum", b"900150983cd24fb0")]
        follow_up_works(client)


def test_trailers_dropped_without_te_trailers(server: Any) -> None:
    srv, _ = server(with_trailers)
    with Client(srv.port) as client:
        client.send(GET)
        response = client.read_response()
        assert response.body == b"abcdef"
        assert response.trailers == []
        follow_up_works(client)


async def early_hints(exchange: Exchange) -> None:
    exchange.send_informational(103, [(b"link", b"</style.css>; rel=preload")])
    exchange.start(200, [])
    exchange.end(b"final")


def test_informational_on_http11_only(server: Any) -> None:
    srv, _ = server(early_hints)
    with Client(srv.port) as client:
        client.send(GET)
        first = client.read_response()
        assert first.status == 103
        assert first.header(b"link") == b"</style.css>; rel=preload"
        final = client.read_response()
        assert final.body == b"final"
    with Client(srv.port) as client:
        client.send(GET10)
        interim, final = client.read_final()
        assert interim == []  # RFC 9110 15.2: never a 1xx to an HTTP/1.0 client
        assert final.body == b"final"


async def read_then_answer(exchange: Exchange) -> None:
    body = []
    while data := await exchange.read():
        body.append(data)
    exchange.start(200, [])
    exchange.end(b"".join(body))


def test_expect_100_continue_sent_when_body_is_read(server: Any) -> None:
    srv, _ = server(read_then_answer)
    with Client(srv.port) as client:
        client.send(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        interim = client.read_response()
        assert interim.status == 100  # before any body byte was sent
        client.send(b"data")
        response = client.read_response()
        assert response.status == 200
        assert response.body == b"data"


def test_expect_100_continue_not_sent_when_answered_at_once(server: Any) -> None:
    srv, _ = server(known_length)
    with Client(srv.port, timeout=5) as client:
        client.send(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 200
        assert response.body == b"hello"


# -- Date and Server ----------------------------------------------------------------------

IMF_FIXDATE = re.compile(
    rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    rb" [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\Z"
)


def test_date_header_format_and_cache(server: Any) -> None:
    srv, _ = server(known_length)
    with Client(srv.port) as client:
        dates = []
        began = time.monotonic()
        for _ in range(20):
            client.send(GET)
            response = client.read_response()
            dates.append(response.header(b"date"))
            assert response.header(b"server") == b"frontdesk"
        elapsed = time.monotonic() - began
        for date in dates:
            assert date is not None and IMF_FIXDATE.match(date), date
            sent = parsedate_to_datetime(date.decode()).timestamp()
            assert abs(sent - time.time()) < 5
        # Cached: the value changes only on the clock's tick, once a second.
        changes = sum(1 for a, b in itertools.pairwise(dates) if a != b)
        assert changes <= elapsed + 1

        # ... and refreshed by it.
        def date_moves() -> bool:
            client.send(GET)
            return client.read_response().header(b"date") != dates[-1]

        assert poll(date_moves, 5, every=0.1)


def test_no_server_header_when_turned_off(server: Any) -> None:
    srv, _ = server(known_length, HttpLimits(server_header=False))
    with Client(srv.port) as client:
        client.send(GET)
        assert client.read_response().header(b"server") is None
