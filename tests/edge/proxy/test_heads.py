"""The request head sent upstream, kept by the route between alike requests, is the head
built afresh."""

from __future__ import annotations

import itertools
import re
import time

from frontdesk.edge.filters.journey import request_start
from frontdesk.edge.proxy.buffering import Spool
from frontdesk.edge.proxy.handler import ProxyRoute
from frontdesk.edge.proxy.headers import (
    START_LINE,
    Forwarding,
    forwarding_for,
    head_parts,
    upstream_fields,
)
from frontdesk.edge.proxy.job import Job
from frontdesk.edge.proxy.options import ProxyOptions
from frontdesk.edge.proxy.upstream import Upstream, UpstreamGroup
from frontdesk.http.request import Request
from frontdesk.interfaces.proxy import TrustedProxies
from tests.http.http_testkit import parse


def upstream_head(
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    host: bytes,
    forwarding: Forwarding,
    **kw: object,
) -> bytes:
    """The whole head, as ``ProxyRoute.request_head`` joins it from ``head_parts``."""
    verb, before, after = head_parts(method, headers, host, forwarding, **kw)  # type: ignore[arg-type]
    start = forwarding.request_start or request_start(time.time())
    return b"".join((verb, target, before, forwarding.request_id, START_LINE, start, after))


def _fresh(method: str, target: bytes, headers: list[tuple[bytes, bytes]], **kw: object) -> bytes:
    forwarding = kw.pop("forwarding")
    length = kw.pop("length", None)
    chunked = kw.pop("chunked", False)
    fields = upstream_fields(headers, b"up", forwarding, **kw)  # type: ignore[arg-type]
    lines = [b"%b %b HTTP/1.1\r\n" % (method.encode(), target)]
    lines += [name + b": " + value + b"\r\n" for name, value in fields]
    if chunked:
        lines.append(b"transfer-encoding: chunked\r\n\r\n")
    elif length is not None:
        lines.append(b"content-length: %d\r\n\r\n" % length)
    else:
        lines.append(b"\r\n")
    return b"".join(lines)


def _without_start(head: bytes) -> list[bytes]:
    """The head's lines but X-Request-Start's, which is stamped per call."""
    assert head.count(b"\r\nx-request-start: t=") == 1
    return [line for line in head.split(b"\r\n") if not line.startswith(b"x-request-start")]


def test_upstream_head_is_its_fields_and_framing() -> None:
    trusted = TrustedProxies.from_setting(("127.0.0.1",))
    heads = [
        [(b"host", b"a")],
        [
            (b"host", b"a"),
            (b"accept", b"*/*"),
            (b"connection", b"keep-alive, x-hop"),
            (b"x-hop", b"1"),
        ],
        [(b"host", b"a"), (b"x-forwarded-for", b"10.0.0.1"), (b"x-request-id", b"abc")],
        [(b"host", b"a"), (b"frontdesk-trace", b"1"), (b"x-request-start", b"t=1700000000000000")],
    ]
    peers = ["127.0.0.1", "10.1.1.1", None]
    framings: list[dict[str, object]] = [{}, {"length": 0}, {"length": 5}, {"chunked": True}]
    extras: list[dict[str, object]] = [{}, {"tunnel": b"websocket"}, {"te_trailers": True}]
    for headers, peer, framing, extra in itertools.product(heads, peers, framings, extras):
        forwarding = forwarding_for(headers, peer, "http", trusted)
        kw = {"client_host": b"a", **framing, **extra}
        got = upstream_head("GET", b"/x?y", headers, b"up", forwarding, **kw)  # type: ignore[arg-type]
        want = _fresh("GET", b"/x?y", headers, forwarding=forwarding, **kw)
        assert _without_start(got) == _without_start(want)
        assert b"\r\nx-request-id: " + forwarding.request_id + b"\r\n" in got


class _Exchange:
    """What ``ProxyRoute._job`` reads of an exchange."""

    def __init__(self, request: Request, client: tuple[str, int] | None, scheme: str) -> None:
        self.request = request
        self.client = client
        self.scheme = scheme
        self.trip = None


_REQUESTS = [
    b"GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n",
    # the same fields for other targets and methods: kept under one key, each its own line
    b"GET /x/other/path HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?z=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /x?y HTTP/1.1\r\nHost: a\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: b\r\nAccept: */*\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Request-ID: abc\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: a\r\nFrontdesk-Trace: 1\r\n"
    b"X-Request-Start: t=1700000000000000\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
    b"GET /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET /x?y HTTP/1.0\r\n\r\n",
    b"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /x?y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
]


def _want(route: ProxyRoute, job: Job, server: Upstream) -> bytes:
    """The head ``request_head`` sends for ``job``, built afresh."""
    request = job.exchange.request
    if job.body is not None:
        length: int | None = job.body.size
    elif job.streamed:
        length = request.content_length
    else:
        length = 0 if request.content_length == 0 else None
    host = request.host
    if route.options.upstream_host or not host:
        host = server.address.authority
    return upstream_head(
        request.method,
        job.target,
        request.headers,
        host,
        job.forwarding,
        client_host=request.host,
        tunnel=job.tunnel,
        te_trailers=request.accepts_trailers,
        length=length,
        chunked=job.streamed and length is None,
    )


def test_heads_a_route_keeps_are_the_heads_built_afresh() -> None:
    trusted = TrustedProxies.from_setting(("127.0.0.1",))
    peers = [("127.0.0.1", 1000), ("10.1.1.1", 1000), ("10.1.1.2", 1000), None]
    for options in (
        ProxyOptions(trusted=trusted),
        ProxyOptions(trusted=trusted, upstream_host=True, request_buffering=False),
        ProxyOptions(trusted=trusted, strip_prefix=True, scheme="https"),
    ):
        group = UpstreamGroup(["127.0.0.1:9", "127.0.0.1:10"])
        route = ProxyRoute("/x", group, options)
        # Every request twice on the one route: built, then kept (under a key that tells
        # apart every request whose head differs).
        for _ in range(2):
            for raw, peer, scheme, server, body in itertools.product(
                _REQUESTS, peers, ("http", "https"), group.servers, (b"hello", b"hi")
            ):
                request = parse([raw]).started[0]
                job = route._job(_Exchange(request, peer, scheme), 0.0)  # type: ignore[arg-type]
                if request.has_body:  # as ``_proxy`` reads it (a chunked body of any size)
                    if options.request_buffering:
                        job.body = Spool(1024)
                        job.body.write(body)
                    else:
                        job.streamed = True
                got = route.request_head(job, server)
                assert _without_start(got) == _without_start(_want(route, job, server))
                assert b"\r\nx-request-id: " + job.forwarding.request_id + b"\r\n" in got
        assert route.heads


def test_request_ids_are_32_lowercase_hex_digits_and_differ() -> None:
    untrusted = TrustedProxies()
    ids = [forwarding_for([], "10.0.0.1", "http", untrusted).request_id for _ in range(1000)]
    assert all(re.fullmatch(rb"[0-9a-f]{32}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)
