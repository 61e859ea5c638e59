"""An upstream's whole, buffered response head, made ready for the client in one pass.

The direct path (``direct.py``) answers most proxied requests. Done field by field with the
general tools (``response_fields``, the buffering test, the journey's fields, then
``Exchange.start`` checking and encoding each field again) that is five walks over the same
few fields per response. ``relay_plan`` walks them once: it drops what ``response_fields``
drops, learns what the buffering rule and the journey need, and encodes the rest; the
request's own fields are added by ``relay_finish`` (a ``PreparedHead``) or, for a plan with
a ``prepared`` head, by ``relay_more`` (field lines to start it with).

The fields come from llhttp, which refuses a name that is not a token and a value holding
CR, LF or NUL (or any control byte but HTAB), so they are joined without checking them
again; the edge's own fields are built here from known-safe parts.

The rules are ``response_fields``' and ``ProxyRoute.buffered``'s, not a copy with their own
life: the tests check that both give the same fields for the same upstream head.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

from frontdesk.edge.filters.journey import (
    SERVER_TIMING,
    TIMING_LINE,
    TRACE,
    timing_entry,
    trace_field,
)
from frontdesk.edge.proxy.headers import LISTS_OTHERS, RESPONSE_DROPPED, lists_others
from frontdesk.http.prepared import PreparedHead
from frontdesk.memo import remember

if TYPE_CHECKING:
    from frontdesk.edge.proxy.client import ResponseHead
    from frontdesk.edge.proxy.job import Job
    from frontdesk.edge.proxy.options import ProxyOptions

_CRLF = b"\r\n"
_SEP = b": "
_REQUEST_ID_NAME = b"x-request-id"


class RelayPlan(NamedTuple):
    """What an upstream head becomes before the request's own fields are added: the same
    for every response with that head, on a route (``relay_plan``). Built as a tuple."""

    status: int
    #: the Content-Length, or -1
    length: int
    #: the kept field lines before the upstream's last Server-Timing value (all of them when
    #: it has none), that value (None: none), and the lines after it
    before: bytes
    timing: bytes | None
    after: bytes
    #: the kept fields as pairs (``pairs``), and where the Server-Timing field is among them
    kept: tuple[tuple[bytes, bytes], ...] | None
    timing_at: int
    #: the upstream sent its own X-Request-ID
    request_id: bool
    #: the kept fields as a head, when nothing of them changes per request (no
    #: Server-Timing to extend): answered with ``relay_more``'s lines after it
    prepared: PreparedHead | None


def relay_plan(
    head: ResponseHead, options: ProxyOptions, trace: bool, pairs: bool
) -> RelayPlan | None:
    """``head`` as the client gets it (a buffered final response) but for the request's own
    fields, or None when it is not one to buffer (X-Accel-Buffering, an event stream) or a
    Connection field names other fields to drop: the general path handles those. It depends
    on the head and the route's options only (``trace``: the request asked for the trace
    field, which is then kept; ``pairs``: the answer goes through a filter, which reads the
    fields as pairs: collect them on the way)."""
    # The block's pieces, four per field (name, ": ", value, CRLF), joined once at the end:
    # cheaper than a bytes object per line built by concatenation.
    parts: list[bytes] = []
    kept: list[tuple[bytes, bytes]] | None = [] if pairs else None
    timing = -1  # where the last Server-Timing field's pieces start in ``parts``
    timing_at = -1  # and its index in ``kept``
    request_id = False
    buffering: bool | None = None
    kind: bytes | None = None
    for name, value in head.headers:
        if name in RESPONSE_DROPPED:
            if name == b"connection":
                # (``lists_others``' memo looked up here first: one call less per response)
                others = LISTS_OTHERS.get(value)
                if others is None:
                    others = lists_others(value)
                if others:
                    return None
            continue
        first = name[:1]
        if first == b"c":
            if name == b"content-length":
                continue  # framing: ``head.content_length``
            if name == b"content-type" and kind is None:
                kind = value
        elif first == b"x":
            if name.startswith(b"x-accel-"):
                if name == b"x-accel-buffering" and buffering is None:
                    said = value.strip().lower()
                    if said == b"no":
                        buffering = False
                    elif said == b"yes":
                        buffering = True
                continue
            if name == b"x-request-id":
                request_id = True
        elif first == b"s":
            if name == SERVER_TIMING:
                timing = len(parts)
                if kept is not None:
                    timing_at = len(kept)
        elif first == b"p":
            if name.startswith(b"proxy-"):
                continue
        elif first == b"f" and name == TRACE and not trace:
            continue
        parts += (name, _SEP, value, _CRLF)
        if kept is not None:
            kept.append((name, value))
    if buffering is None:
        buffering = options.response_buffering
        if buffering and options.stream_event_streams and kind is not None:
            stream = _EVENT_STREAMS.get(kind)  # (``event_stream``'s memo first: a call less)
            if stream is None:
                stream = event_stream(kind)
            buffering = not stream
    if not buffering:
        return None
    status = head.status
    length = head.content_length
    if length is None or status == 204:
        length = -1  # none, or a 204's, which never carries one (RFC 9110 8.6)
    timing_value: bytes | None = None
    if timing >= 0:
        before = b"".join(parts[: timing + 2])
        timing_value = parts[timing + 2]
        after = b"".join(parts[timing + 3 :])
    else:
        before, after = b"".join(parts), b""
    prepared = None
    if timing_value is None:
        fields = None
        if kept is not None:
            fields = [*kept, (b"content-length", b"%d" % length)] if length >= 0 else kept
        prepared = PreparedHead.encoded(status, before, length, fields)
    return _new_tuple(
        RelayPlan,
        (
            status,
            length,
            before,
            timing_value,
            after,
            None if kept is None else tuple(kept),
            timing_at,
            request_id,
            prepared,
        ),
    )


def relay_finish(plan: RelayPlan, job: Job, options: ProxyOptions, route: str) -> PreparedHead:
    """The head of ``plan`` with the request's own fields: its id, the edge's Server-Timing
    entry and the trace field."""
    kept = None if plan.kept is None else list(plan.kept)
    length = plan.length
    value = plan.timing
    entry = _edge_entry(job, options)
    if value is None:
        parts = [plan.before]
    else:
        if entry:
            # Appended to the upstream's last Server-Timing field (``add_timing``'s rule).
            value = value + b", " + entry if value.strip() else entry
            entry = b""
            if kept is not None:
                kept[plan.timing_at] = (SERVER_TIMING, value)
        parts = [plan.before, value, plan.after]
    own = _own_fields(plan, job, options, route, entry)
    for name, field_value in own:
        parts += (name, _SEP, field_value, _CRLF)
    if kept is not None:
        kept += own
        if length >= 0:
            kept.append((b"content-length", b"%d" % length))
    return PreparedHead.encoded(plan.status, b"".join(parts), length, kept)


def relay_more(plan: RelayPlan, job: Job, options: ProxyOptions, route: str) -> bytes:
    """The request's own field lines, encoded, for a plan with a ``prepared`` head: those of
    ``_own_fields``, the usual pair (the id and the timing entry) in one formatting (the
    entry as ``timing_entry`` makes it)."""
    forwarding = job.forwarding
    if (
        options.server_timing
        and options.response_request_id
        and not plan.request_id
        and not forwarding.trace
    ):
        spent = time.perf_counter() - job.received - job.waited
        return _ID_AND_TIMING % (forwarding.request_id, spent * 1000.0 if spent > 0.0 else 0.0)
    own = _own_fields(plan, job, options, route, _edge_entry(job, options))
    return b"".join(name + _SEP + value + _CRLF for name, value in own)


def _edge_entry(job: Job, options: ProxyOptions) -> bytes:
    """The edge's Server-Timing entry for ``job`` (its time less its waits), if one is due."""
    if not options.server_timing:
        return b""
    return timing_entry(time.perf_counter() - job.received - job.waited)


#: the request id and the edge's timing entry, as field lines
_ID_AND_TIMING = b"x-request-id: %b\r\n" + TIMING_LINE


def _own_fields(
    plan: RelayPlan, job: Job, options: ProxyOptions, route: str, entry: bytes
) -> list[tuple[bytes, bytes]]:
    """The fields the edge adds to the upstream's: the request id (unless the upstream
    sent its own), the Server-Timing ``entry`` when not empty, the trace field if asked."""
    forwarding = job.forwarding
    own = []
    if options.response_request_id and not plan.request_id:
        own.append((_REQUEST_ID_NAME, forwarding.request_id))
    if entry:
        own.append((SERVER_TIMING, entry))
    if forwarding.trace:
        server = job.server
        upstream = None if server is None else server.address.label
        own.append(trace_field(route, upstream=upstream, attempts=job.attempts))
    return own


_new_tuple = tuple.__new__


_EVENT_STREAM = b"text/event-stream"
# Content-Type values seen again and again, each judged once.
_EVENT_STREAMS: dict[bytes, bool] = {}


def event_stream(kind: bytes) -> bool:
    """Whether the Content-Type value ``kind`` is ``text/event-stream``."""
    known = _EVENT_STREAMS.get(kind)
    if known is None:
        known = kind.split(b";")[0].strip().lower() == _EVENT_STREAM
        if len(kind) <= 128:
            remember(_EVENT_STREAMS, kind, known, 256)
    return known
