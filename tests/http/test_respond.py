"""``Exchange.respond``: one call for a whole response from a prepared head, answering what
``start_prepared`` then ``end`` answer, byte for byte (Date aside), in every case it takes
itself and every case it hands to them."""

from __future__ import annotations

from typing import Any

import pytest

from frontdesk.errors import LocalProtocolError
from frontdesk.http import Exchange, PreparedHead
from tests.http.http_testkit import Client, Response

PLAIN = PreparedHead(200, [(b"content-type", b"text/plain"), (b"etag", b'"x"')])
SIZED = PreparedHead(200, [(b"content-type", b"text/plain"), (b"content-length", b"5")])
CLOSING = PreparedHead(200, [(b"connection", b"close")])
EMPTY = PreparedHead(204, [(b"x-a", b"1")])
NOT_MODIFIED = PreparedHead(304, [(b"etag", b'"x"')])
HEADS = {"plain": PLAIN, "sized": SIZED, "closing": CLOSING, "empty": EMPTY, "304": NOT_MODIFIED}
TIMING = b"server-timing: edge;dur=0.010\r\n"

# (request line and fields, head, body, more)
CASES = [
    ("GET / HTTP/1.1\r\nHost: t", "plain", b"hello", b""),
    ("GET / HTTP/1.1\r\nHost: t", "plain", b"hello", TIMING),
    ("GET / HTTP/1.1\r\nHost: t", "plain", b"", b""),
    ("GET / HTTP/1.1\r\nHost: t", "sized", b"hello", TIMING),
    ("GET / HTTP/1.1\r\nHost: t", "sized", b"hell", b""),  # short: the two calls' rules
    ("GET / HTTP/1.1\r\nHost: t", "sized", b"too long", b""),  # long: refused
    ("HEAD / HTTP/1.1\r\nHost: t", "plain", b"hello", b""),
    ("HEAD / HTTP/1.1\r\nHost: t", "sized", b"", TIMING),
    ("GET / HTTP/1.0", "plain", b"hello", b""),
    ("GET / HTTP/1.0\r\nConnection: keep-alive", "plain", b"hello", TIMING),
    ("GET / HTTP/1.1\r\nHost: t\r\nConnection: close", "plain", b"hello", b""),
    ("GET / HTTP/1.1\r\nHost: t", "closing", b"bye", b""),
    ("GET / HTTP/1.1\r\nHost: t", "empty", b"", TIMING),
    ("GET / HTTP/1.1\r\nHost: t", "304", b"", b""),
]


def _answer(client: Client, request: str, method: str) -> tuple[Any, ...]:
    client.send(request.encode() + b"\r\n\r\n")
    try:
        response: Response | None = client.read_response(method)
    except AssertionError:
        response = None  # the connection ended without a (whole) response
    if response is None:
        return (None, client.is_open())
    fields = [(name, value) for name, value in response.headers if name != b"date"]
    if b"close" in response.connection_tokens():
        client.expect_eof()  # and nothing after the response
        open_after = False
    else:
        # Kept open, with nothing stray after the response: the next answer reads cleanly.
        client.send(request.encode() + b"\r\n\r\n")
        again = client.read_response(method)
        open_after = (again.status, again.body) == (response.status, response.body)
    return (response.status, fields, response.body, response.framing, open_after)


@pytest.mark.parametrize(("request_text", "head", "body", "more"), CASES)
def test_respond_answers_as_start_prepared_then_end(
    server: Any, request_text: str, head: str, body: bytes, more: bytes
) -> None:
    async def script(exchange: Exchange) -> None:
        if exchange.request.path == b"/":
            exchange.respond(HEADS[head], body, more)
        else:
            exchange.start_prepared(HEADS[head], more=more)
            exchange.end(body)

    srv, handler = server(script)
    method = request_text.split(" ", 1)[0]
    with Client(srv.port) as one, Client(srv.port) as two:
        by_respond = _answer(one, request_text, method)
        by_two_calls = _answer(two, request_text.replace(" / ", " /two ", 1), method)
    assert by_respond == by_two_calls
    assert by_respond[0] is not None or head == "sized"  # only the long body is refused
    raised = [type(exc).__name__ for exc in handler.raised]
    assert raised == ([] if body != b"too long" else ["LocalProtocolError"] * 2)


def test_respond_after_start_is_refused_as_start_is(server: Any) -> None:
    refused: list[str] = []

    async def script(exchange: Exchange) -> None:
        exchange.start_prepared(PLAIN)
        try:
            exchange.respond(PLAIN, b"again")
        except LocalProtocolError as exc:
            refused.append(str(exc))
        exchange.end(b"first")

    srv, handler = server(script)
    with Client(srv.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().body == b"first"
    assert refused == ["response already started"] and handler.raised == []
