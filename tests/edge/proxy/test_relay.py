"""``relay_plan`` then ``relay_finish`` or ``relay_more`` (the direct path's one pass over an
upstream's fields, then the request's own) against the general rules they stand in for:
``response_fields``, ``ProxyRoute.buffered``'s rule, the journey's fields, then
``Exchange.start``'s framing. Same upstream head in, same fields out."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from frontdesk.edge.filters.journey import add_timing, trace_field
from frontdesk.edge.proxy.client import ResponseHead
from frontdesk.edge.proxy.headers import Forwarding, accel_buffering, header_value, response_fields
from frontdesk.edge.proxy.job import Job
from frontdesk.edge.proxy.options import ProxyOptions
from frontdesk.edge.proxy.relay import relay_finish, relay_more, relay_plan
from frontdesk.http.prepared import PreparedHead, take_framing
from frontdesk.http.writer import encode_fields

Fields = list[tuple[bytes, bytes]]

CASES: list[tuple[int, Fields]] = [
    (200, [(b"content-type", b"text/plain"), (b"content-length", b"13")]),
    (
        200,
        [
            (b"server", b"nginx"),
            (b"date", b"Wed, 25 Nov 2026 03:39:56 GMT"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"connection", b"keep-alive"),
            (b"keep-alive", b"timeout=5"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ],
    ),
    (
        200,
        [
            (b"server-timing", b"queue;dur=0.1, app;dur=2"),
            (b"x-request-id", b"abc"),
            (b"transfer-encoding", b"chunked"),
            (b"proxy-authenticate", b"Basic"),
            (b"x-accel-redirect", b"/x"),
            (b"frontdesk-trace", b"app; pid=1"),
        ],
    ),
    (204, [(b"content-length", b"0"), (b"x-a", b"1")]),
    (304, [(b"etag", b'"x"'), (b"content-length", b"99")]),
    (
        200,
        [
            (b"server-timing", b"a;dur=1"),
            (b"server-timing", b""),
            (b"x-accel-buffering", b"yes"),
            (b"content-type", b"text/event-stream"),
            (b"upgrade", b"h2c"),
            (b"te", b"trailers"),
            (b"trailer", b"x"),
        ],
    ),
    (404, [(b"content-type", b"text/html; charset=utf-8")]),
]


def relay_head(
    head: ResponseHead, job: Job, options: ProxyOptions, route: str, pairs: bool = False
) -> PreparedHead | None:
    """The plan of ``head`` for ``job``, finished: what the direct path answers with."""
    plan = relay_plan(head, options, job.forwarding.trace, pairs)
    return None if plan is None else relay_finish(plan, job, options, route)


def _job(*, trace: bool = False) -> Job:
    forwarding = Forwarding("127.0.0.1", True, "http", b"0123abcd", b"", trace)
    return Job(None, forwarding, b"/", None, None, False)  # type: ignore[arg-type]


def _head(status: int, fields: Fields) -> ResponseHead:
    length = header_value(fields, b"content-length")
    chunked = header_value(fields, b"transfer-encoding") is not None
    return ResponseHead(status, fields, None if length is None else int(length), chunked, True)


def _general(head: ResponseHead, job: Job, options: ProxyOptions, route: str) -> bytes | None:
    """What the task path's rules make of ``head``: fields, buffering, journey, framing."""
    said = accel_buffering(head.headers)
    if said is None:
        kind = header_value(head.headers, b"content-type")
        stream = (
            options.stream_event_streams
            and kind is not None
            and kind.split(b";")[0].strip().lower() == b"text/event-stream"
        )
        said = options.response_buffering and not stream
    if not said:
        return None
    fields = response_fields(head.headers, trace=job.forwarding.trace)
    if options.response_request_id and header_value(fields, b"x-request-id") is None:
        fields.append((b"x-request-id", job.forwarding.request_id))
    if options.server_timing:
        add_timing(fields, b"edge;dur=0.000")
    if job.forwarding.trace:
        fields.append(trace_field(route, upstream=None, attempts=0))
    kept, _, _ = take_framing(head.status, fields)
    return encode_fields(kept)


def _timing_free(block: bytes) -> bytes:
    return re.sub(rb"edge;dur=[0-9.]+", b"edge;dur=T", block)


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize(("status", "fields"), CASES)
@pytest.mark.parametrize(
    "options",
    [
        ProxyOptions(),
        ProxyOptions(server_timing=False, response_request_id=False),
        ProxyOptions(stream_event_streams=False),
        ProxyOptions(response_buffering=False),
    ],
)
def test_relay_head_gives_what_the_general_rules_give(
    status: int, fields: Fields, trace: bool, options: ProxyOptions
) -> None:
    head = _head(status, fields)
    job = _job(trace=trace)
    expected = _general(head, job, options, "/api")
    prepared = relay_head(head, job, options, "/api")
    if expected is None:
        assert prepared is None
        return
    assert prepared is not None
    assert _timing_free(prepared.block) == _timing_free(expected)
    assert prepared.status == status
    length = head.content_length
    assert prepared.length == (-1 if length is None or status == 204 else length)
    # A filter wrapping the exchange gets the same fields as pairs (with the length).
    again, again_length, _ = take_framing(status, prepared.fields)
    assert _timing_free(encode_fields(again)) == _timing_free(prepared.block)
    assert again_length == prepared.length


def test_the_edge_timing_joins_the_upstreams_last_server_timing_field() -> None:
    head = _head(200, [(b"server-timing", b"queue;dur=1"), (b"server-timing", b"app;dur=2")])
    prepared = relay_head(head, _job(), ProxyOptions(), "/")
    assert prepared is not None
    lines = prepared.block.split(b"\r\n")
    assert lines[0] == b"server-timing: queue;dur=1"
    assert re.fullmatch(rb"server-timing: app;dur=2, edge;dur=[0-9]+\.[0-9]{3}", lines[1])


def test_a_connection_field_naming_other_fields_goes_the_general_way() -> None:
    head = _head(200, [(b"connection", b"close, x-secret"), (b"x-secret", b"1")])
    assert relay_head(head, _job(), ProxyOptions(), "/") is None
    # ... whose rule drops the named field.
    assert response_fields(head.headers) == []


def test_x_accel_buffering_no_and_event_streams_are_not_relayed_whole() -> None:
    options = ProxyOptions()
    no = _head(200, [(b"x-accel-buffering", b"no")])
    stream = _head(200, [(b"content-type", b"text/event-stream; charset=utf-8")])
    assert relay_head(no, _job(), options, "/") is None
    assert relay_head(stream, _job(), options, "/") is None
    assert relay_head(stream, _job(), replace(options, stream_event_streams=False), "/")


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize(("status", "fields"), CASES)
@pytest.mark.parametrize(
    "options",
    [
        ProxyOptions(),
        ProxyOptions(server_timing=False),
        ProxyOptions(response_request_id=False),
        ProxyOptions(server_timing=False, response_request_id=False),
    ],
)
def test_a_prepared_plan_and_its_request_lines_give_what_the_general_rules_give(
    trace: bool, status: int, fields: Fields, options: ProxyOptions
) -> None:
    """The direct path's answer from a remembered head: the plan's head, encoded once, then
    the request's own lines (``relay_more``)."""
    head = _head(status, fields)
    job = _job(trace=trace)
    plan = relay_plan(head, options, trace, False)
    want = _general(head, job, options, "/api")
    if plan is None:
        assert want is None
        return
    if plan.prepared is None:  # an upstream Server-Timing field to extend: relay_finish's
        assert plan.timing is not None
        return
    block = plan.prepared.block + relay_more(plan, job, options, "/api")
    assert want is not None and _timing_free(block) == _timing_free(want)
    assert plan.prepared.length == (
        -1 if head.content_length is None or status == 204 else head.content_length
    )
    # The lines are well-formed fields: a name, ": ", a value, CRLF each.
    for line in relay_more(plan, job, options, "/api").split(b"\r\n")[:-1]:
        assert re.fullmatch(rb"[a-z-]+: [\x21-\x7e][\x20-\x7e]*", line), line
