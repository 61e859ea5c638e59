"""Upstream response heads seen before: taken without parsing them again, and answered the
same as when they are parsed (``UpstreamConnection._take_known``, the route's relay plans).

Each test's backend answers with a field naming the test, so the heads it remembers are its
own (the memo is shared by all connections of the process).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from frontdesk.edge.proxy import UpstreamGroup, client
from frontdesk.edge.proxy.handler import ProxyRoute
from frontdesk.interfaces.proxy import TrustedProxies
from tests.edge.proxy.backends import (
    Behaviour,
    RawBackend,
    proxy,
    raw_backend,
    read_request,
    response,
)


def _known_heads(marker: bytes) -> list[bytes]:
    return [head for head in client._KNOWN if marker in head]


def _pooled(route: ProxyRoute) -> list[client.UpstreamConnection]:
    return list(route.group.servers[0].pool._idle)


def answering(answer: Callable[[int, bytes], bytes]) -> Behaviour:
    """A keep-alive backend writing ``answer(n, head)`` for its n-th request (one write)."""

    def behaviour(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            sock.sendall(answer(backend.record(request[0]), request[0]))

    return behaviour


#: the same head every time (length included); the body tells the request's number
same_head_other_bodies = answering(
    lambda count, _: response(b"answer %03d" % count, extra=b"x-case: same-head\r\n")
)


def test_a_head_seen_before_is_taken_as_known_and_answered_the_same() -> None:
    with (
        raw_backend(same_head_other_bodies) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
        httpx.Client(timeout=10) as http,
    ):
        answers = [http.get(server.url + "/") for _ in range(6)]
        pooled = _pooled(route)
    assert [answer.content for answer in answers] == [b"answer %03d" % n for n in range(1, 7)]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["x-case"] == "same-head"
        assert answer.headers["content-type"] == "text/plain"
        assert answer.headers["content-length"] == "10"
        assert re.fullmatch(r"edge;dur=\d+\.\d{3}", answer.headers["server-timing"])
    # Each request has its own id, though the head they were answered from is one object.
    assert len({answer.headers["x-request-id"] for answer in answers}) == 6
    assert backend.connections == 1
    assert len(_known_heads(b"x-case: same-head")) == 1
    assert len(pooled) == 1 and pooled[0].known  # the last answer was a known head
    assert len(route.relay_plans) == 1  # one plan, made once for the five known answers
    assert route.stats.direct == 5


@pytest.mark.parametrize(
    "junk",
    [b"XYZ", b"HTTP/1.1 2", b"HTTP/1.1 200 OK\r\nx-more: 1\r\n", response(b"unasked")],
    ids=["garbage", "partial-line", "partial-head", "whole-response"],
)
def test_bytes_after_a_response_retire_the_connection(junk: bytes) -> None:
    """An upstream that sends more than the response asked for (in the same write) is not
    trusted with another request: neither the known path nor llhttp reads the next answer
    from the middle of those bytes."""

    whole = response(b"extra-test", extra=b"x-case: extra\r\n")
    behaviour = answering(lambda count, _: whole + (junk if count == 3 else b""))

    with (
        raw_backend(behaviour) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
        httpx.Client(timeout=10) as http,
    ):
        answers = [http.get(server.url + "/") for _ in range(6)]
    assert [(answer.status_code, answer.content) for answer in answers] == [
        (200, b"extra-test")
    ] * 6
    assert backend.connections == 2  # the third answer's connection was not used again
    assert route.stats.failures == 0


_HINT = b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n"
interim_then_final = answering(
    lambda _, __: _HINT + response(b"after a hint", extra=b"x-case: interim\r\n")
)


def test_an_interim_response_is_never_remembered_as_the_answer() -> None:
    with (
        raw_backend(interim_then_final) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
        httpx.Client(timeout=10) as http,
    ):
        answers = [http.get(server.url + "/") for _ in range(4)]
    assert [(answer.status_code, answer.content) for answer in answers] == [
        (200, b"after a hint")
    ] * 4
    assert all(answer.headers["x-case"] == "interim" for answer in answers)
    assert not _known_heads(b"103 Early Hints")
    assert backend.connections == 1


chunked = answering(
    lambda _, __: (
        b"HTTP/1.1 200 OK\r\nx-case: chunked\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
)


def test_chunked_responses_are_parsed_every_time() -> None:
    with (
        raw_backend(chunked) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
        httpx.Client(timeout=10) as http,
    ):
        answers = [http.get(server.url + "/") for _ in range(4)]
    assert [answer.content for answer in answers] == [b"hello world"] * 4
    assert not _known_heads(b"x-case: chunked")
    assert backend.connections == 1


def _fixed_or_head_only(_: int, head: bytes) -> bytes:
    whole = response(b"fixed body", extra=b"x-case: head-after-known\r\n")
    return whole[: whole.index(b"\r\n\r\n") + 4] if head.startswith(b"HEAD ") else whole


fixed_with_head = answering(_fixed_or_head_only)


def test_a_head_request_after_known_answers_gets_no_body() -> None:
    """The answer to HEAD has the head of a known GET answer; it must not be read as one
    (whose body would follow)."""
    with (
        raw_backend(fixed_with_head) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
        httpx.Client(timeout=10) as http,
    ):
        before = [http.get(server.url + "/").content for _ in range(3)]
        head = http.head(server.url + "/")
        after = [http.get(server.url + "/").content for _ in range(2)]
    assert before == after[:1] * 3 and after == [b"fixed body"] * 2
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "10"
    assert backend.connections == 1


body_on_head = answering(lambda _, __: response(b"fixed body", extra=b"x-case: body-on-head\r\n"))


def test_a_body_sent_on_head_is_not_taken_for_a_known_answer() -> None:
    """An upstream that answers HEAD with the body too (a common bug) sent bytes past the
    response: the client gets the head alone and the connection is not used again."""
    with (
        raw_backend(body_on_head) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
        httpx.Client(timeout=10) as http,
    ):
        before = [http.get(server.url + "/").content for _ in range(3)]
        head = http.head(server.url + "/")
        after = http.get(server.url + "/").content
    assert before == [b"fixed body"] * 3 and after == b"fixed body"
    assert head.status_code == 200 and head.content == b""
    assert backend.connections == 2


_TRACED = b"x-case: traced\r\nfrontdesk-trace: app;interface=asgi\r\n"
traced = answering(lambda _, __: response(b"traced", extra=_TRACED))


def test_a_known_head_keeps_the_trace_rules_of_each_request() -> None:
    """The upstream's trace field goes to a trusted client that asked for it, and to no
    other, whether the head was known or not."""
    with (
        raw_backend(traced) as backend,
        proxy(UpstreamGroup([backend.url]), trusted=TrustedProxies.from_setting(["127.0.0.1"])) as (
            server,
            _,
        ),
        httpx.Client(timeout=10) as http,
    ):
        plain = [http.get(server.url + "/") for _ in range(3)]
        asked = [http.get(server.url + "/", headers={"frontdesk-trace": "1"}) for _ in range(2)]
        plain += [http.get(server.url + "/")]
    for answer in plain:
        assert answer.content == b"traced" and "frontdesk-trace" not in answer.headers
    for answer in asked:
        traces = answer.headers.get_list("frontdesk-trace")
        assert traces[0] == "app;interface=asgi" and traces[1].startswith("edge;")
    assert backend.connections == 1


def _late_after_the_first(count: int, _: bytes) -> bytes:
    """Each answer after the first comes 0.5 s late."""
    if count > 1:
        time.sleep(0.5)
    return response(b"late", extra=b"x-case: slow\r\n")


slow_answers = answering(_late_after_the_first)


def test_the_edge_timing_leaves_out_the_wait_for_the_upstream() -> None:
    """Server-Timing's ``edge`` entry is the edge's own time: on the direct path too, the
    time spent waiting for the upstream's answer is not in it."""
    with (
        raw_backend(slow_answers) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
        httpx.Client(timeout=10) as http,
    ):
        answers = [http.get(server.url + "/") for _ in range(3)]
    assert route.stats.direct == 2
    for answer in answers[1:]:
        assert answer.content == b"late"
        match = re.fullmatch(r"edge;dur=(\d+\.\d{3})", answer.headers["server-timing"])
        assert match is not None and float(match.group(1)) < 250.0, match


#: a compressible body of one length every time, so every response has the same head
TEXT = b"the same compressible words, over and over again. " * 20

same_text = answering(lambda count, _: response(TEXT, extra=b"x-case: compressed-direct\r\n"))


def test_known_heads_through_compression_are_compressed_for_each_client_that_asks() -> None:
    # The direct path answers from the route's prepared head for a known upstream head; the
    # compression filter in front must still see every answer (a prepared head is no way
    # around it), whatever the previous request on the connection asked for.
    import zlib

    from frontdesk.edge.filters import CompressionFilter

    accepts = ["gzip", "identity", "gzip", "deflate", "gzip", "identity"]
    with (
        raw_backend(same_text) as backend,
        proxy(UpstreamGroup([backend.url]), wrap=CompressionFilter) as (server, route),
        httpx.Client(timeout=10) as http,
    ):
        answers = []
        for accept in accepts:
            headers = {"accept-encoding": accept}
            with http.stream("GET", server.url + "/", headers=headers) as answer:
                raw = b"".join(answer.iter_raw())
            answers.append((answer, raw))
    assert route.stats.direct >= len(accepts) - 1  # all but the first from a known head
    for accept, (answer, raw) in zip(accepts, answers, strict=True):
        assert answer.status_code == 200
        assert answer.headers["vary"] == "accept-encoding"
        assert answer.headers["x-case"] == "compressed-direct"
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
        if accept == "gzip":
            assert answer.headers["content-encoding"] == "gzip"
            assert zlib.decompress(raw, 16 + zlib.MAX_WBITS) == TEXT
        else:
            assert "content-encoding" not in answer.headers
            assert raw == TEXT and answer.headers["content-length"] == str(len(TEXT))
