"""The same read again on one connection: the parser hands on what llhttp would have given.

``RequestParser`` keeps the last read when it was exactly one whole request without a body
that leaves the connection open; the same bytes again are that request again, without
llhttp. These tests hold it to what a fresh parse gives, and to the edges where the same
bytes must not be taken as a request: in the middle of a head, of a body, or after a request
that closes the connection or switches protocols.
"""

from __future__ import annotations

import pytest

from frontdesk.errors import RemoteProtocolError
from frontdesk.http.limits import HttpLimits
from frontdesk.http.parser import AGAIN_MAX, RequestParser, UpgradeRequested
from tests.http.http_testkit import CORPUS_LIMITS, CorpusCase, Sink, feed_pieces, load_corpus

# The requests after which the connection stays open, and the malformed ones (not those
# merely cut short)
VALID_KEPT_OPEN = [case for case in load_corpus("valid") if not case.expect["closed"]]
MALFORMED = [case for case in load_corpus("invalid") if not case.half_close]

GET = b"GET /poll?x=1 HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n"


@pytest.mark.parametrize("case", VALID_KEPT_OPEN, ids=lambda c: c.id)
def test_valid_case_three_times_over(case: CorpusCase) -> None:
    # Each read is the whole case; what it parses to must not change from the first read on.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [case.data] * 3)
    assert sink.done == [case.expect["request"]] * 3


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c.id)
def test_invalid_case_after_a_request_kept(case: CorpusCase) -> None:
    # A request kept for again changes nothing for different bytes after it.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET, GET])
    with pytest.raises(RemoteProtocolError) as caught:
        parser.feed(case.data)
    assert caught.value.status == case.expect["status"], (case.id, str(caught.value))
    assert len(sink.done) == 2


def test_same_request_many_times_one_by_one() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET] * 50)
    assert len(sink.done) == 50
    assert all(done == sink.done[0] for done in sink.done)
    assert sink.done[0]["target"] == "/poll?x=1" and sink.done[0]["query"] == "x=1"
    assert all(not request.has_body and request.keep_alive for request in sink.started)


def test_same_bytes_inside_a_head_are_part_of_that_head() -> None:
    # Half a head, then the bytes of the kept request: they continue the head (an invalid
    # field line), they are not a request of their own.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET, b"GET / HTTP/1.1\r\nX-A: "])
    parser.feed(bytes(GET))  # the value is "GET /poll?x=1 HTTP/1.1", then Host, Accept, end
    assert len(sink.done) == 2
    second = sink.started[1]
    assert second.target == b"/"
    assert second.headers == [
        (b"x-a", b"GET /poll?x=1 HTTP/1.1"),
        (b"host", b"example.test"),
        (b"accept", b"*/*"),
    ]


def test_same_bytes_inside_a_body_are_body() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET])
    post = b"POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n" % len(GET)
    feed_pieces(parser, [post, GET])  # the body is exactly the bytes of the kept request
    assert [done["method"] for done in sink.done] == ["GET", "POST"]
    assert sink.done[1]["body"] == GET.decode("latin-1")
    feed_pieces(parser, [GET])  # and then it is a request again, parsed afresh
    assert [done["method"] for done in sink.done] == ["GET", "POST", "GET"]


def test_requests_with_a_body_are_parsed_every_time() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    post = b"POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello"
    feed_pieces(parser, [post] * 3)
    assert [done["body"] for done in sink.done] == ["hello"] * 3
    chunked = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    feed_pieces(parser, [chunked] * 3)
    assert [done["body"] for done in sink.done[3:]] == ["abc"] * 3


def test_two_requests_in_one_read_are_both_parsed_again() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    other = b"GET /other HTTP/1.1\r\nHost: example.test\r\n\r\n"
    feed_pieces(parser, [GET + other] * 3)
    assert [done["path"] for done in sink.done] == ["/poll", "/other"] * 3


def test_a_request_ending_a_read_that_began_mid_request_is_not_kept() -> None:
    # The read holds the end of one request and the whole of the next: the same bytes again
    # are not the next request alone.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    tail = GET[-10:]
    parser.feed(GET[:-10])
    parser.feed(tail + GET)
    assert len(sink.done) == 2
    with pytest.raises(RemoteProtocolError):
        parser.feed(tail + GET)  # "t: */*\r\n\r\nGET ..." is no request line
    assert len(sink.done) == 2


def test_nothing_after_a_closing_request() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    closing = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    parser.feed(closing)
    with pytest.raises(RemoteProtocolError):
        parser.feed(bytes(closing))  # llhttp refuses data after a closing request
    assert len(sink.done) == 1


def test_http10_without_keep_alive_is_not_kept() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    plain = b"GET / HTTP/1.0\r\n\r\n"
    parser.feed(plain)
    with pytest.raises(RemoteProtocolError):
        parser.feed(bytes(plain))
    keep = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    parser = RequestParser(CORPUS_LIMITS, sink := Sink())
    feed_pieces(parser, [keep] * 3)
    assert [done["version"] for done in sink.done] == ["1.0"] * 3
    assert all(request.keep_alive for request in sink.started)


def test_upgrade_request_is_never_taken_again() -> None:
    upgrade = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    for _ in range(2):
        parser = RequestParser(CORPUS_LIMITS, Sink())
        with pytest.raises(UpgradeRequested):
            parser.feed(upgrade)
        parser.reset()  # declined, as the connection declines it
        with pytest.raises(UpgradeRequested):
            parser.feed(bytes(upgrade))


def test_expect_continue_is_parsed_every_time() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    expect = b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"
    feed_pieces(parser, [expect] * 2)
    assert [request.expect_continue for request in sink.started] == [True, True]


def test_long_reads_are_not_kept_but_still_parse() -> None:
    sink = Sink()
    parser = RequestParser(HttpLimits(), sink)
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"a" * AGAIN_MAX + b"\r\n\r\n"
    feed_pieces(parser, [big] * 2)
    assert len(sink.done) == 2
    assert sink.started[0] is not sink.started[1]


def test_after_a_refused_upgrade_the_next_request_is_parsed_afresh() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET, GET])
    upgrade = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"
    with pytest.raises(UpgradeRequested):
        parser.feed(upgrade)
    parser.reset()
    feed_pieces(parser, [GET])
    assert [done["path"] for done in sink.done] == ["/poll", "/poll", "/ws", "/poll"]


def test_a_read_ending_inside_the_next_head_is_not_kept() -> None:
    # One request whole and the start of the next: the same bytes again continue that next
    # head (here into an invalid version), they are not the first request again.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    read = GET + b"GET /x HT"
    parser.feed(read)
    with pytest.raises(RemoteProtocolError):
        parser.feed(bytes(read))
    assert len(sink.done) == 1


def test_an_empty_read_is_no_request() -> None:
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    feed_pieces(parser, [GET, b"", b"", GET, b""])
    assert len(sink.done) == 2


def test_each_new_request_is_the_one_kept_next() -> None:
    # The request recognised is the connection's last one, whichever came before it.
    sink = Sink()
    parser = RequestParser(CORPUS_LIMITS, sink)
    other = b"GET /other HTTP/1.1\r\nHost: example.test\r\n\r\n"
    feed_pieces(parser, [GET, GET, other, other, GET, GET])
    first, again, second, second_again, third, third_again = sink.started
    assert again is first  # the same bytes again: the same read-only request
    assert second is not first and second_again is second
    assert third is not first and third_again is third
    assert [request.path for request in sink.started] == [b"/poll"] * 2 + [b"/other"] * 2 + [
        b"/poll"
    ] * 2
