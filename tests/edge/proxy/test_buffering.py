"""Request and response buffering: slow clients, temporary files, streaming, server-sent events."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx

from frontdesk.edge.proxy import ProxyOptions, UpstreamGroup
from tests.edge.proxy.backends import proxy, raw_backend, serve_ok, wait_until


def _head(port: int, length: int) -> bytes:
    return b"POST /echo HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-length: %d\r\n\r\n" % (
        port,
        length,
    )


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_slow_client_reaches_the_backend_only_once_its_body_is_complete() -> None:
    with (
        raw_backend(serve_ok) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(_head(server.port, 10) + b"12345")
            # Half the body is in: the proxy holds it (the request is being buffered).
            wait_until(lambda: route.stats.requests == 1, what="the request to start")
            assert backend.connections == 0 and backend.requests == []
            sock.sendall(b"67890")
            answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        assert len(backend.requests) == 1
        assert b"content-length: 10" in backend.requests[0]


def test_streamed_request_bodies_reach_the_backend_as_they_come(uvicorn_url: str) -> None:
    options = ProxyOptions(request_buffering=False)
    with proxy(UpstreamGroup([uvicorn_url]), options) as (server, _):
        pieces = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
        r = httpx.post(server.url + "/echo", content=iter(pieces), timeout=10)
        body = r.json()
        assert body["body_len"] == 3000
        assert body["headers"]["transfer-encoding"] == "chunked"
        assert body["body_sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_a_large_request_body_is_spooled_to_disk(gunicorn_urls: tuple[str, str]) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    options = ProxyOptions(request_buffer_memory=256 * 1024)
    with proxy(UpstreamGroup([gunicorn_urls[0]]), options) as (server, route):
        # Sent chunked by the client; the proxy sends it upstream with a length.
        r = httpx.post(
            server.url + "/echo", content=iter([payload[:1000], payload[1000:]]), timeout=30
        )
        body = r.json()
        assert body["body_len"] == len(payload)
        assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert body["headers"]["content-length"] == str(len(payload))
        assert route.stats.spooled_requests == 1
        small = httpx.post(server.url + "/echo", content=b"small", timeout=10).json()
        assert small["body_len"] == 5 and route.stats.spooled_requests == 1


def test_a_large_response_is_spooled_and_sent_from_the_file(
    gunicorn_urls: tuple[str, str], loop_kind: str
) -> None:
    size = 5 * 1024 * 1024 + 7
    options = ProxyOptions(response_buffer_memory=512 * 1024)
    with proxy(UpstreamGroup([gunicorn_urls[1]]), options, loop_kind=loop_kind) as (server, route):
        r = httpx.get(server.url + f"/big?n={size}", timeout=30)
        block = bytes(range(256)) * 4096
        assert r.status_code == 200 and len(r.content) == size
        assert r.content == (block * (size // len(block) + 1))[:size]
        assert route.stats.spooled_responses == 1
        head = httpx.head(server.url + f"/big?n={size}", timeout=10)
        assert head.headers["content-length"] == str(size) and head.content == b""


def test_a_response_bigger_than_the_buffer_bound_is_streamed(
    gunicorn_urls: tuple[str, str],
) -> None:
    options = ProxyOptions(response_buffer_memory=64 * 1024, response_buffer_max=256 * 1024)
    with proxy(UpstreamGroup([gunicorn_urls[0]]), options) as (server, route):
        r = httpx.get(server.url + "/big?n=2000000", timeout=30)
        assert len(r.content) == 2000000
        assert route.stats.streamed_responses == 1


def test_the_upstream_is_released_before_a_buffered_response_reaches_the_client(
    gunicorn_urls: tuple[str, str],
) -> None:
    group = UpstreamGroup([gunicorn_urls[0]])
    upstream = group.servers[0]
    with (
        proxy(group) as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        # A client that asks for 4 MB and does not read it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big?n=4000000 HTTP/1.1\r\nhost: x\r\n\r\n")
        wait_until(lambda: upstream.pool.idle_count == 1, what="the upstream to be released")
        assert upstream.active == 0


def _first_event_before_the_end(url: str) -> None:
    started = time.monotonic()
    with httpx.stream("GET", url, timeout=15) as r:
        lines = r.iter_lines()
        assert next(lines) == "data: first"
        # The upstream is still holding the last event back; the first one came through.
        assert time.monotonic() - started < 8
        httpx.get(url.rsplit("/", 1)[0] + "/release", timeout=10)
        rest = [line for line in lines if line]
    assert rest == ["data: last"]


def test_server_sent_events_are_streamed(uvicorn_url: str, loop_kind: str) -> None:
    with proxy(UpstreamGroup([uvicorn_url]), loop_kind=loop_kind) as (server, route):
        _first_event_before_the_end(server.url + "/events")
        assert route.stats.streamed_responses == 1


def test_x_accel_buffering_no_streams_and_is_not_passed_on(uvicorn_url: str) -> None:
    with proxy(UpstreamGroup([uvicorn_url])) as (server, route):
        with httpx.stream("GET", server.url + "/events?plain", timeout=15) as r:
            assert "x-accel-buffering" not in r.headers
            lines = r.iter_lines()
            assert next(lines) == "data: first"
            httpx.get(server.url + "/release", timeout=10)
            assert [line for line in lines if line] == ["data: last"]
        assert route.stats.streamed_responses == 1


def test_a_route_that_does_not_buffer_streams(gunicorn_urls: tuple[str, str]) -> None:
    options = ProxyOptions(response_buffering=False)
    with proxy(UpstreamGroup([gunicorn_urls[0]]), options) as (server, route):
        r = httpx.get(server.url + "/generated", timeout=10)
        assert r.text.splitlines() == [f"line {i}" for i in range(100)]
        assert route.stats.streamed_responses == 1
