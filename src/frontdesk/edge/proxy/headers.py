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

import re
import secrets
import time
from dataclasses import dataclass

from frontdesk.edge.filters.journey import (
    REQUEST_START,
    TRACE,
    request_start,
    valid_request_start,
)
from frontdesk.interfaces.proxy import TrustedProxies

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


def _is_hop_by_hop(name: bytes, listed: set[bytes]) -> bool:
    return name in _HOP_BY_HOP or name in listed or name.startswith(b"proxy-")


@dataclass(frozen=True, slots=True)
class Forwarding:
    """How a request reached this proxy, computed once per request."""

    #: the peer's address (None: a unix socket peer)
    peer: str | None
    #: the peer is a trusted proxy: its forwarding fields are believed and extended
    trusted: bool
    #: the scheme the client used towards us
    scheme: str
    #: the request id sent upstream
    request_id: bytes
    #: the X-Request-Start value sent upstream (``t=<microseconds>``)
    request_start: bytes = b""
    #: a trusted peer asked for ``Frontdesk-Trace``: forwarded, and answered with ours
    trace: bool = False


def forwarding_for(
    headers: list[tuple[bytes, bytes]],
    peer: str | None,
    scheme: str,
    trusted: TrustedProxies,
    received: float | None = None,
) -> Forwarding:
    """``received``: the ``time.time()`` the request head arrived at (now when None)."""
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
        request_id = secrets.token_hex(16).encode("ascii")
    if start is None:
        start = request_start(time.time() if received is None else received)
    return Forwarding(peer, is_trusted, scheme, request_id, start, trace)


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
    listed = connection_listed(headers)
    trusted = forwarding.trusted
    out: list[tuple[bytes, bytes]] = [(b"host", host)]
    xff: list[bytes] = []
    forwarded: list[bytes] = []
    proto: bytes | None = None
    xhost: bytes | None = None
    for name, value in headers:
        if name in _REWRITTEN:
            if trusted:
                if name == b"x-forwarded-for":
                    xff.append(value)
                elif name == b"forwarded":
                    forwarded.append(value)
                elif name == b"x-forwarded-proto" and proto is None:
                    proto = value
                elif name == b"x-forwarded-host" and xhost is None:
                    xhost = value
            continue
        if _is_hop_by_hop(name, listed):
            continue
        out.append((name, value))
    scheme = forwarding.scheme.encode("ascii")
    peer = forwarding.peer
    xff.append(b"unknown" if peer is None else peer.encode("ascii"))
    out.append((b"x-forwarded-for", b", ".join(xff)))
    out.append((b"x-forwarded-proto", proto or scheme))
    if xhost is not None or client_host:
        out.append((b"x-forwarded-host", xhost or client_host))
    element = b"for=" + _node(peer) + b";proto=" + scheme
    if client_host:
        element += b";host=" + _value(client_host)
    forwarded.append(element)
    out.append((b"forwarded", b", ".join(forwarded)))
    out.append((b"x-request-id", forwarding.request_id))
    out.append((REQUEST_START, forwarding.request_start))
    if forwarding.trace:
        out.append((TRACE, b"1"))
    if te_trailers:
        out.append((b"te", b"trailers"))
    if tunnel is not None:
        out.append((b"connection", b"upgrade"))
        out.append((b"upgrade", tunnel))
    return out


def response_fields(
    headers: list[tuple[bytes, bytes]], *, tunnel: bool = False, trace: bool = False
) -> list[tuple[bytes, bytes]]:
    """An upstream response's fields as passed to the client.

    ``trace``: the client is a trusted peer that asked for ``Frontdesk-Trace``; otherwise
    the upstream's trace fields are dropped.
    """
    listed = connection_listed(headers)
    out = []
    for name, value in headers:
        if name in _RESPONSE_OWN or name.startswith(b"x-accel-") or (name == TRACE and not trace):
            continue
        if tunnel and name == b"upgrade":
            out.append((name, value))
            continue
        if _is_hop_by_hop(name, listed):
            continue
        out.append((name, value))
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
