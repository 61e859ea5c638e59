"""The corpus fed straight to ``RequestParser`` (no sockets): every split point, exactly."""

from __future__ import annotations

import pytest

from frontdesk.errors import RemoteProtocolError
from frontdesk.http.limits import HttpLimits
from frontdesk.http.parser import RequestParser, UpgradeRequested
from tests.http.http_testkit import CORPUS_LIMITS, CorpusCase, Sink, load_corpus, parse

VALID = load_corpus("valid")
INVALID = load_corpus("invalid")


def splits(data: bytes) -> list[list[bytes]]:
    """Every way to cut ``data`` in two, plus one byte at a time."""
    cuts = [[data[:i], data[i:]] for i in range(1, len(data))]
    return [[data], *cuts, [data[i : i + 1] for i in range(len(data))]]


def _small(case: CorpusCase) -> bool:
    return len(case.data) <= 2048


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.id)
def test_valid_at_every_split(case: CorpusCase) -> None:
    ways = splits(case.data) if _small(case) else [[case.data], list(case.data.partition(b"\n"))]
    for pieces in ways:
        sink = parse(pieces)
        assert sink.done == [case.expect["request"]], (case.id, pieces[0][-20:])


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_at_every_split(case: CorpusCase) -> None:
    ways = splits(case.data) if _small(case) else [[case.data], list(case.data.partition(b"\n"))]
    for pieces in ways:
        if case.half_close:
            # Cut short, not malformed: the parser waits for more and completes nothing.
            assert parse(pieces).done == [], case.id
            continue
        with pytest.raises(RemoteProtocolError) as caught:
            parse(pieces)
        assert caught.value.status == case.expect["status"], (case.id, str(caught.value))


def test_pipelined_corpus_in_one_feed() -> None:
    keep = [c for c in VALID if not c.expect["closed"]]
    sink = parse([b"".join(c.data for c in keep)])
    assert sink.done == [c.expect["request"] for c in keep]


# -- memory bounds: a client streaming without end is cut off --------------------------


def _stream_until_refused(prefix: bytes, filler: bytes, limits: HttpLimits) -> tuple[int, int]:
    """Feed ``prefix`` then ``filler`` forever (bounded); (status, bytes fed before refusal)."""
    parser = RequestParser(limits, Sink())
    fed = 0
    try:
        parser.feed(prefix)
        for _ in range(10_000):
            parser.feed(filler)
            fed += len(filler)
    except RemoteProtocolError as exc:
        assert exc.status is not None
        return exc.status, fed
    raise AssertionError(f"fed {fed} bytes without a refusal")


LIMITS = HttpLimits(request_line=1024, request_fields=10, request_field_size=1024)


def test_endless_target_is_cut_off() -> None:
    status, fed = _stream_until_refused(b"GET /", b"a" * 1000, LIMITS)
    assert status == 414
    assert fed <= LIMITS.request_line


def test_endless_field_value_is_cut_off() -> None:
    status, fed = _stream_until_refused(b"GET / HTTP/1.1\r\nX: ", b"a" * 1000, LIMITS)
    assert status == 431
    assert fed <= LIMITS.max_head


def test_endless_field_lines_are_cut_off() -> None:
    status, fed = _stream_until_refused(b"GET / HTTP/1.1\r\n", b"X: 1\r\n" * 100, LIMITS)
    assert status == 431
    assert fed <= LIMITS.max_head


def test_endless_trailer_is_cut_off() -> None:
    # httptools buffers a field line whole before reporting it: the trailer section must be
    # bounded like the head, or a client grows the server's memory without limit.
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    status, fed = _stream_until_refused(head + b"0\r\nX-T: ", b"a" * 1000, LIMITS)
    assert status == 431
    assert fed <= LIMITS.max_head


@pytest.mark.parametrize(
    ("trailers", "refused"),
    [
        (b"X-1: 1\r\nX-2: 2\r\n", False),
        # the head's 3 fields and 8 trailers: past request_fields (10), counted together
        (b"".join(b"X-%d: v\r\n" % i for i in range(8)), True),
        (b"X-Big: " + b"v" * 1020 + b"\r\n", True),
    ],
)
def test_trailers_are_held_to_the_field_limits(trailers: bytes, refused: bool) -> None:
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    pieces = [head + b"2\r\nhi\r\n0\r\n" + trailers + b"\r\n"]
    if refused:
        with pytest.raises(RemoteProtocolError) as caught:
            parse(pieces, LIMITS)
        assert caught.value.status == 431
    else:
        assert parse(pieces, LIMITS).done[0]["trailers"] == [["x-1", "1"], ["x-2", "2"]]


def test_many_chunks_are_not_mistaken_for_trailers() -> None:
    # The trailer bound counts from the last chunk's header only: a long body of small
    # chunks (far more framing bytes than max_head) is fine.
    chunks = b"".join(b"3;ext=%d\r\nabc\r\n" % i for i in range(20_000))
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    sink = parse([raw, b"0\r\nX-T: 1\r\n\r\n"], HttpLimits(request_body=0))
    assert len(sink.done) == 1
    assert sink.done[0]["body"] == "abc" * 20_000
    assert sink.done[0]["trailers"] == [["x-t", "1"]]


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_chunk_header_split_from_its_data(piece: int) -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"2000\r\n"
        + b"d" * 0x2000
        + b"\r\n0\r\n\r\n"
    )
    pieces = [raw[i : i + piece] for i in range(0, len(raw), piece)]
    sink = parse(pieces, HttpLimits(request_line=64, request_fields=4, request_field_size=64))
    assert sink.done[0]["body"] == "d" * 0x2000


def test_version_http12_is_read_as_http11() -> None:
    # RFC 9110 2.5: a higher minor version is processed as the highest minor version we speak.
    sink = parse([b"GET / HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n"])
    assert sink.started[0].version == "1.1"
    assert sink.started[0].keep_alive is False
    sink = parse([b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"])
    assert sink.started[0].keep_alive is True


def test_request_fields() -> None:
    sink = parse(
        [
            b"POST /p?q HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\nTE: gzip, trailers;q=1\r\n"
            b"Expect: 100-continue\r\nConnection: keep-alive\r\n\r\nabc"
        ]
    )
    (request,) = sink.started
    assert (request.method, request.path, request.query) == ("POST", b"/p", b"q")
    assert request.host == b"h:1"
    assert request.content_length == 3
    assert not request.chunked
    assert request.expect_continue
    assert request.accepts_trailers
    assert request.upgrade is None
    assert request.keep_alive
    assert request.header(b"te") == b"gzip, trailers;q=1"
    assert sink.done[0]["body"] == "abc"


def test_upgrade_request() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    with pytest.raises(UpgradeRequested) as caught:
        parser.feed(data + b"\x81\x00")
    assert caught.value.offset == len(data)
    assert sink.started[0].upgrade == b"websocket"


@pytest.mark.parametrize("framing", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_upgrade_request_with_a_body_is_not_upgraded(framing: bytes) -> None:
    # httptools would treat the body as the new protocol's bytes; the body belongs to the
    # request (RFC 9110 7.8), so the upgrade is ignored and the body read as HTTP/1.1.
    body = b"hello" if b"Length" in framing else b"5\r\nhello\r\n0\r\n\r\n"
    head = b"POST / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n" + framing
    data = head + b"\r\n\r\n" + body + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        sink = parse(pieces)
        assert [r["body"] for r in sink.done] == ["hello", ""]
        assert sink.started[0].upgrade is None
        assert sink.done[1]["path"] == "/next"


@pytest.mark.parametrize(
    ("field", "proxied", "journey"),
    [
        (b"X-Forwarded-For: 1.2.3.4", True, False),
        (b"x-forwarded-proto: https", True, False),
        (b"X-Forwarded-Host: example.com", True, False),
        (b"Forwarded: for=1.2.3.4", True, False),
        # read by no one: nothing to weigh
        (b"X-Forwarded-Port: 443", False, False),
        (b"X-Request-ID: abc", False, True),
        (b"X-Request-Start: t=1", False, True),
        (b"Frontdesk-Trace: 1", False, True),
        (b"X-Requested-With: x", False, False),
        (b"Frontdesk: 1", False, False),
    ],
)
def test_proxy_and_journey_fields_are_noted(field: bytes, proxied: bool, journey: bool) -> None:
    sink = parse([b"GET / HTTP/1.1\r\nHost: h\r\n" + field + b"\r\n\r\n"])
    (request,) = sink.started
    assert (request.proxied, request.journey) == (proxied, journey)


def test_noted_fields_are_the_ones_their_readers_read() -> None:
    # ``proxied`` and ``journey`` gate the readers: a name one reads and the parser does not
    # note would be ignored.
    from frontdesk.http.rules import FORWARDING_FIELDS, JOURNEY_FIELDS
    from frontdesk.interfaces import proxy
    from frontdesk.observe import journey

    assert set(proxy._WANTED) == FORWARDING_FIELDS
    assert set(journey._FIELDS) == JOURNEY_FIELDS
