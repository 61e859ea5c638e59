"""The direct path (no task) for requests on pooled connections, and where it hands over.

Each test's first request opens the upstream connection (the task's path); the later ones
find it in the pool and go direct, until something happens that the task's rules act on.
"""

from __future__ import annotations

import re
import socket
import threading

import httpx

from frontdesk.edge.proxy import PoolOptions, Upstream, UpstreamGroup
from tests.edge.proxy.backends import (
    RawBackend,
    proxy,
    raw_backend,
    read_request,
    response,
    wait_until,
)

BIG = bytes(range(256)) * 1024  # 256 KiB: more than one read's worth


def serve_named(backend: RawBackend, sock: socket.socket) -> None:
    """Keep-alive answers with the backend's name; HEAD gets the head alone."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        whole = response(backend.name.encode())
        if request[0].startswith(b"HEAD "):
            whole = whole[: whole.index(b"\r\n\r\n") + 4]
        sock.sendall(whole)


def answer_then_stall(backend: RawBackend, sock: socket.socket) -> None:
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        if backend.record(request[0]) == 1:
            sock.sendall(response(b"first"))
        else:
            backend.release.wait(10)
            return


def big_then_streamed(backend: RawBackend, sock: socket.socket) -> None:
    """1: small; 2: 256 KiB in pieces; 3: X-Accel-Buffering: no; 4: reset before answering."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        count = backend.record(request[0])
        if count == 2:
            whole = response(BIG)
            for start in range(0, len(whole), 16384):
                sock.sendall(whole[start : start + 16384])
        elif count == 3:
            sock.sendall(response(b"streamed", extra=b"x-accel-buffering: no\r\n"))
        else:
            sock.sendall(response(b"small"))


def test_pooled_requests_go_direct() -> None:
    with (
        raw_backend(serve_named, "direct") as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
        httpx.Client(timeout=10) as client,
    ):
        for _ in range(5):
            answer = client.get(server.url + "/x?y=1")
            assert answer.text == "direct"
            assert re.fullmatch(r"edge;dur=\d+\.\d{3}", answer.headers["server-timing"])
        head = client.head(server.url)
        assert head.status_code == 200 and head.content == b""
        assert client.get(server.url).text == "direct"  # after a HEAD: a fresh parser
    assert backend.connections == 1
    assert route.stats.direct == 6 and route.stats.reused_connections == 6
    assert all(
        sent.startswith((b"GET /x?y=1 ", b"HEAD / ", b"GET / ")) for sent in backend.requests
    )


def test_a_stalled_pooled_connection_times_out_with_504() -> None:
    with raw_backend(answer_then_stall) as backend:
        group = UpstreamGroup([Upstream(backend.url, max_fails=0)])
        with proxy(group, read_timeout=0.5) as (server, route), httpx.Client(timeout=10) as client:
            assert client.get(server.url).text == "first"
            answer = client.get(server.url)
            backend.release.set()
    assert answer.status_code == 504
    assert route.stats.direct == 0 and route.stats.reused_connections == 1
    timing = answer.headers["server-timing"]
    assert float(timing.removeprefix("edge;dur=")) < 250.0  # the wait was upstream's


def test_large_and_streamed_responses_are_handed_to_a_task() -> None:
    with (
        raw_backend(big_then_streamed) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, route),
        httpx.Client(timeout=10) as client,
    ):
        assert client.get(server.url).text == "small"
        assert client.get(server.url).content == BIG
        assert client.get(server.url).text == "streamed"
        assert client.get(server.url).text == "small"
    assert backend.connections == 1
    assert route.stats.streamed_responses == 1
    assert route.stats.direct == 1  # only the last one


def test_the_pool_keeps_a_bursts_connections_for_a_while() -> None:
    release = threading.Event()

    def slow(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            release.wait(10)
            sock.sendall(response(b"ok"))

    options = PoolOptions(max_idle=1, idle_timeout=30, max_burst_idle=3, burst_timeout=0.3)
    with raw_backend(slow) as backend:
        group = UpstreamGroup([backend.url], pool=options)
        pool = group.servers[0].pool
        with proxy(group) as (server, _):
            results: list[int] = []
            threads = [
                threading.Thread(
                    target=lambda: results.append(httpx.get(server.url, timeout=10).status_code)
                )
                for _ in range(3)
            ]
            for thread in threads:
                thread.start()
            wait_until(lambda: len(backend.requests) == 3, what="three requests upstream")
            release.set()
            for thread in threads:
                thread.join(10)
            assert results == [200, 200, 200]
            # All three kept at first, for the next burst...
            assert pool.idle_count == 3 and pool.connections_made == 3
            # ...then back to max_idle once the burst timeout passed.
            wait_until(lambda: pool.idle_count == 1, what="the burst's extra connections to close")
            assert httpx.get(server.url, timeout=10).status_code == 200
            assert pool.connections_made == 3


def test_stalled_direct_requests_time_out_one_after_another() -> None:
    # The route's one timer for its direct requests is set again after each time-out.
    def first_on_each_connection(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        answered = False
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            if answered:
                backend.release.wait(10)
                return
            sock.sendall(response(b"first"))
            answered = True

    with raw_backend(first_on_each_connection) as backend:
        group = UpstreamGroup([Upstream(backend.url, max_fails=0)])
        with proxy(group, read_timeout=0.3) as (server, route):
            for _ in range(2):
                with httpx.Client(timeout=10) as client:
                    assert client.get(server.url).text == "first"
                    assert client.get(server.url).status_code == 504
            backend.release.set()
    assert route.stats.reused_connections == 2 and route.stats.direct == 0
    assert not route.direct
