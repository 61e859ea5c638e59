"""An upstream's whole, buffered response head, made ready for the client in one pass.

The direct path (``direct.py``) answers most proxied requests. Done field by field with the
general tools (``response_fields``, the buffering test, the journey's fields, then
``Exchange.start`` checking and encoding each field again) that is five walks over the same
few fields per response. ``relay_head`` walks them once: it drops what ``response_fields``
drops, learns what the buffering rule and the journey need, and encodes the rest straight
into a ``PreparedHead``.

The fields come from llhttp, which refuses a name that is not a token and a value holding
CR, LF or NUL (or any control byte but HTAB), so they are joined without checking them
again; the edge's own fields are built here from known-safe parts.

The rules are ``response_fields``' and ``ProxyRoute.buffered``'s, not a copy with their own
life: the tests check that both give the same fields for the same upstream head.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from frontdesk.edge.filters.journey import SERVER_TIMING, TRACE, timing_entry, trace_field
from frontdesk.edge.proxy.headers import RESPONSE_DROPPED, lists_others
from frontdesk.http.prepared import PreparedHead

if TYPE_CHECKING:
    from frontdesk.edge.proxy.client import ResponseHead
    from frontdesk.edge.proxy.job import Job
    from frontdesk.edge.proxy.options import ProxyOptions

_CRLF = b"\r\n"
_SEP = b": "


def relay_head(
    head: ResponseHead, job: Job, options: ProxyOptions, route: str, pairs: bool = False
) -> PreparedHead | None:
    """``head`` as the client gets it (a buffered final response), or None when it is not
    one to buffer (X-Accel-Buffering, an event stream) or a Connection field names other
    fields to drop: the general path handles those.

    ``route``: the route's prefix, for the trace field. ``pairs``: the answer goes through a
    filter, which reads the fields as pairs: collect them on the way.
    """
    trace = job.forwarding.trace
    lines: list[bytes] = []
    kept: list[tuple[bytes, bytes]] | None = [] if pairs else None
    timing = -1
    request_id = False
    buffering: bool | None = None
    kind: bytes | None = None
    for name, value in head.headers:
        if name in RESPONSE_DROPPED:
            if name == b"connection" and lists_others(value):
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
                timing = len(lines)
        elif first == b"p":
            if name.startswith(b"proxy-"):
                continue
        elif first == b"f" and name == TRACE and not trace:
            continue
        lines.append(name + _SEP + value + _CRLF)
        if kept is not None:
            kept.append((name, value))
    if buffering is None:
        buffering = options.response_buffering and not (
            options.stream_event_streams
            and kind is not None
            and kind.split(b";")[0].strip().lower() == b"text/event-stream"
        )
    if not buffering:
        return None
    status = head.status
    length = head.content_length
    if length is None or status == 204:
        length = -1  # none, or a 204's, which never carries one (RFC 9110 8.6)
    if options.response_request_id and not request_id:
        lines.append(b"x-request-id: " + job.forwarding.request_id + _CRLF)
        if kept is not None:
            kept.append((b"x-request-id", job.forwarding.request_id))
    if options.server_timing:
        spent = time.perf_counter() - job.received - job.waited
        entry = timing_entry(spent)
        if timing >= 0:
            # Appended to the upstream's last Server-Timing field (``add_timing``'s rule).
            value = lines[timing][len(SERVER_TIMING) + 2 : -2]
            value = value + b", " + entry if value.strip() else entry
            lines[timing] = SERVER_TIMING + _SEP + value + _CRLF
            if kept is not None:
                kept[timing] = (SERVER_TIMING, value)  # (the two run in step up to here)
        else:
            lines.append(SERVER_TIMING + _SEP + entry + _CRLF)
            if kept is not None:
                kept.append((SERVER_TIMING, entry))
    if trace:
        server = job.server
        upstream = None if server is None else server.address.label
        field = trace_field(route, upstream=upstream, attempts=job.attempts)
        lines.append(field[0] + _SEP + field[1] + _CRLF)
        if kept is not None:
            kept.append(field)
    if kept is not None and length >= 0:
        kept.append((b"content-length", b"%d" % length))
    return PreparedHead.encoded(status, b"".join(lines), length, kept)
