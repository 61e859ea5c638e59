"""Keep-alive connections to upstreams: reuse, peers that close them, the keep-alive race."""

from __future__ import annotations

import json
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
    serve_ok,
    wait_until,
)


def test_sequential_requests_share_one_upstream_connection(
    gunicorn_urls: tuple[str, str], uvicorn_url: str
) -> None:
    for url in (gunicorn_urls[0], uvicorn_url):
        group = UpstreamGroup([url])
        with proxy(group) as (server, route), httpx.Client(timeout=10) as client:
            peers = {client.get(server.url + "/whoami").json()["peer"] for _ in range(10)}
            # A fresh client connection each time: the upstream side is what is pooled.
            for _ in range(5):
                peers.add(httpx.get(server.url + "/whoami", timeout=10).json()["peer"])
        assert len(peers) == 1
        assert group.servers[0].pool.connections_made == 1
        assert route.stats.reused_connections == 14


def answer_then_close(backend: RawBackend, sock: socket.socket) -> None:
    """Answer one request as if keeping the connection, then close it (an idle timeout)."""
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
        sock.sendall(response(b"%d" % len(backend.requests)))


def test_a_pooled_connection_the_peer_closed_is_not_used() -> None:
    with raw_backend(answer_then_close) as backend:
        group = UpstreamGroup([backend.url])
        pool = group.servers[0].pool
        with proxy(group) as (server, route):
            assert httpx.get(server.url, timeout=10).text == "1"
            # The upstream closed its side: the pool notices and drops the connection.
            wait_until(lambda: pool.idle_count == 0, what="the closed connection to leave")
            assert httpx.get(server.url, timeout=10).text == "2"
        assert backend.connections == 2
        assert route.stats.keepalive_retries == 0 and route.stats.reused_connections == 0


def close_on_second_request(backend: RawBackend, sock: socket.socket) -> None:
    """The keep-alive race: answer once, then close as the next request arrives, unanswered."""
    buffer = bytearray()
    served = 0
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        if served == 1:
            return  # closed without a byte of answer
        served += 1
        sock.sendall(response(b"%d" % len(backend.requests)))


def test_keepalive_race_retries_an_idempotent_request_once_on_a_fresh_connection() -> None:
    with raw_backend(close_on_second_request) as backend:
        group = UpstreamGroup([Upstream(backend.url, max_fails=1)])
        with proxy(group) as (server, route), httpx.Client(timeout=10) as client:
            assert client.get(server.url).text == "1"
            second = client.get(server.url)
            assert (second.status_code, second.text) == (200, "3")
            assert route.stats.keepalive_retries == 1
            # Not the server's fault: passive health did not count it.
            assert group.servers[0].available()
        assert backend.connections == 2


def test_keepalive_race_does_not_replay_a_post() -> None:
    with raw_backend(close_on_second_request) as backend:
        group = UpstreamGroup([backend.url])
        with proxy(group) as (server, route), httpx.Client(timeout=10) as client:
            assert client.post(server.url, content=b"a").text == "1"
            second = client.post(server.url, content=b"b")
            assert second.status_code == 502
        assert len(backend.requests) == 2
        assert route.stats.keepalive_retries == 0


def test_idle_connections_are_bounded_and_expire(gunicorn_urls: tuple[str, str]) -> None:
    options = PoolOptions(max_idle=1, idle_timeout=0.2, max_burst_idle=1)
    group = UpstreamGroup([gunicorn_urls[0]], pool=options)
    pool = group.servers[0].pool
    upstream = group.servers[0]
    with proxy(group) as (server, _):
        # Two requests in flight at once need two upstream connections...
        slow: list[int] = []
        thread = threading.Thread(
            target=lambda: slow.append(httpx.get(server.url + "/slow?s=1", timeout=10).status_code)
        )
        thread.start()
        wait_until(lambda: upstream.active == 1, what="the slow request to be upstream")
        assert json.loads(httpx.get(server.url + "/whoami", timeout=10).text)["name"] == "g1"
        thread.join(10)
        assert slow == [200]
        assert pool.connections_made == 2
        # ...but only one is kept idle, and not beyond its timeout.
        assert pool.idle_count <= 1
        wait_until(lambda: pool.idle_count == 0, what="the idle connection to expire")


def test_max_requests_per_connection() -> None:
    with raw_backend(serve_ok) as backend:
        group = UpstreamGroup([backend.url], pool=PoolOptions(max_requests=3))
        with proxy(group) as (server, _), httpx.Client(timeout=10) as client:
            for _ in range(7):
                assert client.get(server.url).status_code == 200
        assert backend.connections == 3
