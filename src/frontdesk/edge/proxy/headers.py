"""Fields a proxy rewrites: hop-by-hop ones dropped both ways, forwarding ones set.

Towards the upstream:
- hop-by-hop fields go (RFC 9110 7.6.1): Connection and every name it lists, Keep-Alive, TE,
  Trailer, Transfer-Encoding, Upgrade (kept when tunnelling), and every ``Proxy-*`` field;
  Content-Length and Expect are the proxy's to write, as it re-frames the body;
- ``X-Forwarded-For`` gets the peer's address appended, ``X-Forwarded-Proto`` and
  ``X-Forwarded-Host`` say how the request reached us, ``Forwarded`` (RFC 7239) gets one
  element for this hop, and ``X-Request-ID`` is a fresh random id. When the peer is a
  trusted proxy its values are kept (the lists appended to); from anyone else they are
  replaced, so a client cannot forge where it comes from. ``X-Request-Start`` and
  ``Frontdesk-Trace`` follow the same rule (``frontdesk.edge.filters.journey``).
- Host is passed through, or set to the upstream's when the route asks.

Towards the client: hop-by-hop fields go, and so do Date and Server (the core writes its own)
and nginx's ``X-Accel-*`` controls, which are meant for the proxy alone.
"""

from __future__ import annotations

import random
import re
import time
from binascii import hexlify
from collections.abc import Sequence
from typing import NamedTuple

from frontdesk.edge.filters.journey import (
    REQUEST_START,
    TRACE,
    request_start,
    valid_request_start,
)
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.memo import remember

_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
# Fields this module writes itself towards the upstream.
_REWRITTEN = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        REQUEST_START,
        TRACE,
    }
)
_RESPONSE_OWN = frozenset({b"date", b"server"})
# Names never copied as they are: one set test per field in the common case.
_NOT_COPIED = _HOP_BY_HOP | _REWRITTEN
#: an upstream's response fields never passed to the client as they are
RESPONSE_DROPPED = _HOP_BY_HOP | _RESPONSE_OWN
_FORWARDING_CACHE_SIZE = 1024
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# A request id worth keeping: short and plain (it ends up in logs and responses).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,200}\Z")


def connection_listed(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """The field names the Connection fields list (each is hop-by-hop)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
        if token.strip()
    }


#: ``lists_others``' answers by Connection value (read directly where it runs per response)
LISTS_OTHERS: dict[bytes, bool] = {}


def lists_others(value: bytes) -> bool:
    """Whether a Connection field's ``value`` names any field beyond the always hop-by-hop
    ones (``Connection: keep-alive`` on nearly every response names none)."""
    others = LISTS_OTHERS.get(value)
    if others is None:
        others = bool(connection_listed([(b"connection", value)]) - _HOP_BY_HOP)
        if len(value) <= 64:
            remember(LISTS_OTHERS, value, others, 256)
    return others


def _lists_others(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the Connection fields name any field beyond the always hop-by-hop ones."""
    return any(name == b"connection" and lists_others(value) for name, value in headers)


class Forwarding(NamedTuple):
    """How a request reached this proxy, computed once per request."""

    #: the peer's address (None: a unix socket peer)
    peer: str | None
    #: the peer is a trusted proxy: its forwarding fields are believed and extended
    trusted: bool
    #: the scheme the client used towards us
    scheme: str
    #: the request id sent upstream
    request_id: bytes
    #: a trusted peer's X-Request-Start (``t=<microseconds>``), kept; empty: the edge stamps
    #: its own as the request head goes upstream, so the app server's ``queue`` span is the
    #: wait for a worker, not the edge's work or a slow client's upload before it
    request_start: bytes = b""
    #: a trusted peer asked for ``Frontdesk-Trace``: forwarded, and answered with ours
    trace: bool = False


def forwarding_for(
    headers: Sequence[tuple[bytes, bytes]],
    peer: str | None,
    scheme: str,
    trusted: TrustedProxies,
) -> Forwarding:
    """How the request reached us: who, by which scheme, and which journey fields to keep."""
    is_trusted = trusted.is_trusted(peer)
    request_id: bytes | None = None
    start: bytes | None = None
    trace = False
    if is_trusted:
        for name, value in headers:
            if name == b"x-request-id":
                if request_id is None and _REQUEST_ID.match(value):
                    request_id = value
            elif name == REQUEST_START:
                if start is None and valid_request_start(value):
                    start = value
            elif name == TRACE and value.strip() == b"1":
                trace = True
    if request_id is None:
        # 128 random bits from the process's generator (reseeded in every forked worker):
        # unique enough for an id, without a system call per request as secrets would take.
        request_id = hexlify(random.getrandbits(128).to_bytes(16, "big"))
    # Built as the tuple it is: a NamedTuple's ``__new__`` is a Python function that costs
    # twice as much, once per request.
    return _new_tuple(Forwarding, (peer, is_trusted, scheme, request_id, start or b"", trace))


_new_tuple = tuple.__new__


def _node(peer: str | None) -> bytes:
    if peer is None:
        return b"unknown"
    if ":" in peer:
        return b'"[' + peer.encode("ascii") + b']"'
    return peer.encode("ascii")


def _value(text: bytes) -> bytes:
    """An RFC 7239 value: a token as is, anything else quoted."""
    if _TOKEN.match(text):
        return text
    return b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def upstream_fields(
    headers: list[tuple[bytes, bytes]],
    host: bytes,
    forwarding: Forwarding,
    *,
    client_host: bytes = b"",
    tunnel: bytes | None = None,
    te_trailers: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The request's fields as sent upstream (without framing fields).

    ``host`` is the Host to send (the client's, or the upstream's), ``client_host`` the one
    the client sent (b"" for none); ``tunnel`` the Upgrade value when the request is
    tunnelled.
    """
    trusted = forwarding.trusted
    out: list[tuple[bytes, bytes]] = [(b"host", host)]
    xff: list[bytes] = []
    forwarded: list[bytes] = []
    proto: bytes | None = None
    xhost: bytes | None = None
    connection = False
    for item in headers:
        name = item[0]
        if name in _NOT_COPIED:
            if name == b"connection":
                connection = True
            elif trusted:
                value = item[1]
                if name == b"x-forwarded-for":
                    xff.append(value)
                elif name == b"forwarded":
                    forwarded.append(value)
                elif name == b"x-forwarded-proto" and proto is None:
                    proto = value
                elif name == b"x-forwarded-host" and xhost is None:
                    xhost = value
            continue
        if name.startswith(b"proxy-"):
            continue
        out.append(item)
    if connection and _lists_others(headers):
        listed = connection_listed(headers)
        out[1:] = [item for item in out[1:] if item[0] not in listed]
    if xff or forwarded or proto is not None or xhost is not None:
        out += _forwarding_fields(forwarding, client_host, xff, forwarded, proto, xhost)
    else:
        # What a client (not a proxy) gets: the same few fields for each of its requests.
        key = (forwarding.peer, forwarding.scheme, client_host)
        fields = _forwarding_cache.get(key)
        if fields is None:
            fields = _forwarding_fields(forwarding, client_host, [], [], None, None)
            if len(client_host) <= 255:
                remember(_forwarding_cache, key, fields, _FORWARDING_CACHE_SIZE)
        out += fields
    out.append((b"x-request-id", forwarding.request_id))
    out.append((REQUEST_START, forwarding.request_start or request_start(time.time())))
    if forwarding.trace:
        out.append((TRACE, b"1"))
    if te_trailers:
        out.append((b"te", b"trailers"))
    if tunnel is not None:
        out.append((b"connection", b"upgrade"))
        out.append((b"upgrade", tunnel))
    return out


_forwarding_cache: dict[tuple[str | None, str, bytes], tuple[tuple[bytes, bytes], ...]] = {}


def _forwarding_fields(
    forwarding: Forwarding,
    client_host: bytes,
    xff: list[bytes],
    forwarded: list[bytes],
    proto: bytes | None,
    xhost: bytes | None,
) -> tuple[tuple[bytes, bytes], ...]:
    """X-Forwarded-For/-Proto/-Host and Forwarded: a trusted peer's lists with this hop added."""
    scheme = forwarding.scheme.encode("ascii")
    peer = forwarding.peer
    out = [
        (b"x-forwarded-for", b", ".join([*xff, b"unknown" if peer is None else peer.encode()])),
        (b"x-forwarded-proto", proto or scheme),
    ]
    if xhost is not None or client_host:
        out.append((b"x-forwarded-host", xhost or client_host))
    element = b"for=" + _node(peer) + b";proto=" + scheme
    if client_host:
        element += b";host=" + _value(client_host)
    out.append((b"forwarded", b", ".join([*forwarded, element])))
    return tuple(out)


def head_parts(
    method: str,
    headers: list[tuple[bytes, bytes]],
    host: bytes,
    forwarding: Forwarding,
    *,
    client_host: bytes = b"",
    tunnel: bytes | None = None,
    te_trailers: bool = False,
    length: int | None = None,
    chunked: bool = False,
) -> tuple[bytes, bytes, bytes]:
    """The request head sent upstream (``upstream_fields`` and the body's framing field) but
    for the target and the values of the two fields that change with every request: the
    method and space before the target; the bytes from the end of the target to the request
    id's value; those after the request start's value. The head is the first, the target,
    the second, the id, ``START_LINE``, the start and the third, in that order
    (``ProxyRoute.request_head``).

    The values come from the parsed request (the parser refused CR, LF and NUL in them) and
    from this module, so the lines are joined without checking them again."""
    fields = upstream_fields(
        headers,
        host,
        forwarding,
        client_host=client_host,
        tunnel=tunnel,
        te_trailers=te_trailers,
    )
    # The request id and start are the first fields after the forwarding ones.
    at = next(n for n, (name, _) in enumerate(fields) if name == b"x-request-id")
    lines = [b" HTTP/1.1\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in fields[:at]]
    lines.append(b"x-request-id: ")
    tail = [name + b": " + value + b"\r\n" for name, value in fields[at + 2 :]]
    if chunked:
        tail.append(b"transfer-encoding: chunked\r\n\r\n")
    elif length is not None:
        tail.append(b"content-length: %d\r\n\r\n" % length)
    else:
        tail.append(b"\r\n")
    return method.encode("ascii") + b" ", b"".join(lines), b"\r\n" + b"".join(tail)


#: what comes between the request id and start values
START_LINE = b"\r\n" + REQUEST_START + b": "


def response_fields(
    headers: list[tuple[bytes, bytes]], *, tunnel: bool = False, trace: bool = False
) -> list[tuple[bytes, bytes]]:
    """An upstream response's fields as passed to the client.

    ``trace``: the client is a trusted peer that asked for ``Frontdesk-Trace``; otherwise
    the upstream's trace fields are dropped.
    """
    out = []
    connection = False
    for item in headers:
        name = item[0]
        if name in RESPONSE_DROPPED:
            if name == b"connection":
                connection = True
            elif tunnel and name == b"upgrade":
                out.append(item)
            continue
        if (name == TRACE and not trace) or name.startswith((b"x-accel-", b"proxy-")):
            continue
        out.append(item)
    if connection and _lists_others(headers):
        listed = connection_listed(headers)
        out = [item for item in out if item[0] not in listed or (tunnel and item[0] == b"upgrade")]
    if tunnel:
        out.append((b"connection", b"upgrade"))
    return out


def accel_buffering(headers: list[tuple[bytes, bytes]]) -> bool | None:
    """``X-Accel-Buffering: yes/no`` from the upstream, or None when it says nothing."""
    for name, value in headers:
        if name == b"x-accel-buffering":
            answer = value.strip().lower()
            if answer == b"no":
                return False
            if answer == b"yes":
                return True
    return None


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
