"""Property tests: whatever bytes a client sends, the core answers each request it can parse
(echo's 200) and at most one protocol error (4xx/5xx) then closes; it never crashes, never
hangs, and never lets anything but ``RemoteProtocolError``/``UpgradeRequested`` out of the
parser.

Two sources of input: random bytes, and mutations of the corpus' valid requests (which reach
much deeper into the parser than noise does).
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.errors import RemoteProtocolError
from frontdesk.http.parser import RequestParser, UpgradeRequested
from frontdesk.http.rules import HOST, TOKEN
from tests.http.http_testkit import (
    CORPUS_LIMITS,
    Client,
    Closed,
    Response,
    ServerThread,
    Sink,
    load_corpus,
)

# HEAD is left out: a response's framing depends on the method, which mutations blur.
VALID = [
    case.data for case in load_corpus("valid") if len(case.data) <= 4096 and case.method != "HEAD"
]

# Bytes that matter to HTTP/1.1 framing, for insertions and replacements.
SPECIAL = [
    b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b",", b"0", b"9", b"a", b"f",
    b"\x7f", b"\xff", b"-", b"+", b"\"", b"\\", b"#", b"?", b"/", b"*", b"@", b"%",
    b"\r\n\r\n", b"\r\n ", b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Host: x\r\n", b"Connection: close\r\n", b"Expect: 100-continue\r\n",
    b"Connection: upgrade\r\nUpgrade: x\r\n", b"0\r\n\r\n", b"HTTP/1.0", b"HTTP/2.0",
    b"GET / HTTP/1.1\r\n", b"ffffffffffffffffff",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus request (or a few, pipelined) with a handful of byte-level mutations."""
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "replace", "delete", "truncate", "duplicate"]))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(SPECIAL))
        elif kind == "replace" and at < len(data):
            data[at : at + 1] = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=1))
        elif kind == "delete":
            data[at : at + draw(st.integers(1, 8))] = b""
        elif kind == "truncate":
            del data[at:]
        elif kind == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 40)))
            data[at:at] = data[at:end]
    return bytes(data)


INPUTS = st.one_of(
    st.binary(max_size=300),
    mutated(),
    st.lists(st.sampled_from(SPECIAL), max_size=30).map(b"".join),
)


# -- in-process: the parser -------------------------------------------------------------


def check_request(request: Any) -> None:
    """What a parsed Request promises its users, whatever the input."""
    assert TOKEN.match(request.method.encode())
    assert request.version in ("1.0", "1.1")
    assert HOST.match(request.host)
    assert not (request.chunked and request.content_length is not None)
    assert request.content_length is None or request.content_length >= 0
    assert request.content_length is None or request.content_length <= CORPUS_LIMITS.request_body
    assert len(request.target) <= CORPUS_LIMITS.request_line
    assert b"#" not in request.target
    for name, value in request.headers:
        assert TOKEN.match(name) and name == name.lower()
        assert not set(value) & set(b"\r\n\x00")
        assert value == value.strip(b" \t")


class CheckingSink(Sink):
    def on_request(self, request: Any) -> None:
        check_request(request)
        super().on_request(request)


@settings(max_examples=1500, deadline=None, database=None)
@given(data=INPUTS, cuts=st.lists(st.integers(1, 64), max_size=20))
def test_parser_only_raises_protocol_errors(data: bytes, cuts: list[int]) -> None:
    pieces, at = [], 0
    for size in cuts:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    sink = CheckingSink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    try:
        for piece in pieces:
            try:
                parser.feed(piece)
            except UpgradeRequested:
                parser.reset()  # declined, as the connection does; the rest is HTTP again
    except RemoteProtocolError as exc:
        assert exc.status is not None and 400 <= exc.status <= 599
    for request in sink.done:
        if request["headers"] and request["method"] != "HEAD":
            # A request reported complete carries exactly its declared body.
            lengths = [v for n, v in request["headers"] if n == "content-length"]
            if lengths and not any(n == "transfer-encoding" for n, _ in request["headers"]):
                assert len(request["body"]) == int(lengths[0])


# -- over a socket: the whole server ------------------------------------------------------


def exchange_all(server: ServerThread, data: bytes) -> list[Response]:
    """Send ``data``, half-close, read every response until the server closes (bounded)."""
    responses: list[Response] = []
    with Client(server.port, timeout=5) as client:
        client.send_pieces([data], tolerate_close=True)
        client.half_close()
        for _ in range(50):
            try:
                response = client.read_response()
            except Closed:
                break
            responses.append(response)
        else:
            raise AssertionError("more than 50 responses")
    return responses


def check_answers(responses: list[Response]) -> None:
    statuses = [r.status for r in responses if r.status != 100]
    # Every parsed request gets a 200; a refusal comes last (the connection then closed).
    assert all(status == 200 for status in statuses[:-1]), statuses
    if statuses:
        assert statuses[-1] == 200 or 400 <= statuses[-1] <= 599, statuses
        if statuses[-1] >= 400:
            assert b"close" in responses[-1].connection_tokens()


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=INPUTS)
def test_server_answers_or_refuses_then_closes(echo: ServerThread, data: bytes) -> None:
    before = len(echo.errors)
    began = time.monotonic()
    check_answers(exchange_all(echo, data))
    assert time.monotonic() - began < 5
    assert echo.errors[before:] == []
