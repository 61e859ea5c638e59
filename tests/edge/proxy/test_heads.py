"""The request head sent upstream, kept between alike requests, is the head built afresh."""

from __future__ import annotations

import itertools

from frontdesk.edge.proxy.headers import forwarding_for, upstream_fields, upstream_head
from frontdesk.interfaces.proxy import TrustedProxies


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


def test_kept_heads_are_the_heads_built_afresh() -> None:
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
        for _ in range(2):  # built, then kept
            got = upstream_head("GET", b"/x?y", headers, b"up", forwarding, **kw)  # type: ignore[arg-type]
            want = _fresh("GET", b"/x?y", headers, forwarding=forwarding, **kw)
            # X-Request-Start is stamped per call: compare all but its value.
            got_lines = [
                line for line in got.split(b"\r\n") if not line.startswith(b"x-request-start")
            ]
            want_lines = [
                line for line in want.split(b"\r\n") if not line.startswith(b"x-request-start")
            ]
            assert got_lines == want_lines
            assert got.count(b"\r\nx-request-start: t=") == 1
            assert b"\r\nx-request-id: " + forwarding.request_id + b"\r\n" in got
