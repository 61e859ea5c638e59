"""Failures upstream: retries for idempotent requests only, and 502/503/504 answers."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from frontdesk.edge.proxy import ProxyOptions, Upstream, UpstreamGroup
from tests.edge.proxy.backends import (
    RawBackend,
    free_port,
    proxy,
    raw_backend,
    read_request,
    reset,
    response,
    serve_ok,
)


def reset_after_request(backend: RawBackend, sock: socket.socket) -> None:
    """Read a request, count it, then reset the connection without answering."""
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
    reset(sock)


def reset_mid_response(backend: RawBackend, sock: socket.socket) -> None:
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 10)
        reset(sock)


def stall(backend: RawBackend, sock: socket.socket) -> None:
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
        backend.release.wait(10)


def nonsense(backend: RawBackend, sock: socket.socket) -> None:
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
        sock.sendall(b"HELLO THERE\r\n\r\n")


def answer_503(backend: RawBackend, sock: socket.socket) -> None:
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        sock.sendall(response(b"busy", "503 Service Unavailable"))


def _group(*urls: str, **kw: object) -> UpstreamGroup:
    return UpstreamGroup([Upstream(url, **kw) for url in urls])  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_idempotent_request_is_retried_on_the_other_server(method: str) -> None:
    with raw_backend(reset_after_request) as bad, raw_backend(serve_ok, "good") as good:
        with proxy(_group(bad.url, good.url)) as (server, route):
            r = httpx.request(method, server.url + "/x", content=b"body", timeout=10)
        assert r.status_code == 200
        assert len(bad.requests) == 1 and len(good.requests) == 1
        assert route.stats.retries == 1
        assert good.requests[0].startswith(method.encode() + b" /x ")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_request_is_never_replayed(method: str) -> None:
    with raw_backend(reset_after_request) as bad, raw_backend(serve_ok, "good") as good:
        with proxy(_group(bad.url, good.url)) as (server, route):
            r = httpx.request(method, server.url + "/x", content=b"pay once", timeout=10)
        assert r.status_code == 502
        assert "502 Bad Gateway" in r.text
        assert len(bad.requests) == 1 and good.requests == []
        assert route.stats.retries == 0


def test_post_is_retried_when_nothing_was_sent() -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    with raw_backend(serve_ok, "good") as good:
        with proxy(_group(refused, good.url)) as (server, _):
            r = httpx.post(server.url + "/x", content=b"once", timeout=10)
        assert (r.status_code, r.text) == (200, "good")
        assert len(good.requests) == 1


def test_reset_mid_response_is_retried_when_buffered_and_idempotent() -> None:
    with raw_backend(reset_mid_response) as bad, raw_backend(serve_ok, "good") as good:
        with proxy(_group(bad.url, good.url)) as (server, _):
            r = httpx.get(server.url + "/x", timeout=10)
        assert (r.status_code, r.text) == (200, "good")


def test_reset_mid_streamed_response_cuts_the_client_off() -> None:
    with (
        raw_backend(reset_mid_response) as bad,
        proxy(_group(bad.url), response_buffering=False) as (server, _),
        pytest.raises(httpx.RemoteProtocolError),
    ):
        httpx.get(server.url + "/x", timeout=10)


def test_refused_everywhere_is_502_and_all_down_is_503() -> None:
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    group = _group(*urls, max_fails=1, fail_timeout=30)
    with proxy(group) as (server, _):
        first = httpx.get(server.url + "/", timeout=10)
        assert first.status_code == 502 and "502 Bad Gateway" in first.text
        assert first.headers["content-type"].startswith("text/html")
        assert first.headers["x-request-id"]
        # Both servers failed once: passive health has taken them out.
        assert not any(s.available() for s in group.servers)
        second = httpx.get(server.url + "/", timeout=10)
        assert second.status_code == 503 and "503 Service Unavailable" in second.text


def test_read_timeout_is_504() -> None:
    with raw_backend(stall) as slow:
        with proxy(_group(slow.url), read_timeout=0.3) as (server, _):
            started = time.monotonic()
            r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 504 and "504 Gateway Timeout" in r.text
        assert time.monotonic() - started < 5


def test_timeout_then_retry_on_the_other_server() -> None:
    with raw_backend(stall) as slow, raw_backend(serve_ok, "good") as good:
        with proxy(_group(slow.url, good.url), read_timeout=0.3) as (server, _):
            r = httpx.get(server.url + "/", timeout=10)
        assert (r.status_code, r.text) == (200, "good")


def test_invalid_response_is_502() -> None:
    with raw_backend(nonsense) as bad:
        with proxy(_group(bad.url)) as (server, _):
            r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 502


def test_retry_statuses_try_another_server_and_the_last_answer_is_relayed() -> None:
    with raw_backend(answer_503, "busy") as busy, raw_backend(serve_ok, "good") as good:
        options = ProxyOptions(retry_statuses=frozenset({503}))
        with proxy(_group(busy.url, good.url, max_fails=0), options) as (server, _):
            assert httpx.get(server.url + "/", timeout=10).text == "good"
        assert len(busy.requests) == 1
        with proxy(_group(busy.url, good.url, max_fails=0), options) as (server, _):
            # A POST is not retried on a status: the answer goes to the client as is.
            posted = httpx.post(server.url + "/", content=b"x", timeout=10)
            assert (posted.status_code, posted.text) == (503, "busy")
        assert len(busy.requests) == 2 and len(good.requests) == 1
        with proxy(_group(busy.url, max_fails=0), options) as (server, _):
            only = httpx.get(server.url + "/", timeout=10)
            assert (only.status_code, only.text) == (503, "busy")


def test_tries_are_bounded() -> None:
    with (
        raw_backend(reset_after_request) as a,
        raw_backend(reset_after_request) as b,
        raw_backend(reset_after_request) as c,
    ):
        with proxy(_group(a.url, b.url, c.url), max_tries=2) as (server, route):
            r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 502
        assert len(a.requests) + len(b.requests) + len(c.requests) == 2
        assert route.stats.retries == 1


def test_retry_time_is_bounded() -> None:
    with raw_backend(stall) as a, raw_backend(stall) as b, raw_backend(stall) as c:
        options = ProxyOptions(read_timeout=0.3, retry_timeout=0.2)
        with proxy(_group(a.url, b.url, c.url), options) as (server, _):
            r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 504
        assert len(a.requests) + len(b.requests) + len(c.requests) == 1


def test_connect_timeout_is_504() -> None:
    # A listener whose backlog is full does not complete new handshakes.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(listener.getsockname())
            except BlockingIOError:
                pass
            fillers.append(filler)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # Should the kernel complete the handshake after all, the read times out instead.
        with proxy(_group(url), connect_timeout=0.3, read_timeout=0.3) as (server, _):
            r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 504
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
