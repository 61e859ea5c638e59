"""Balancing through a real proxy: round-robin order, weights, least-connections, hashing."""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from frontdesk.edge.proxy import (
    ConsistentHash,
    LeastConnections,
    RoundRobin,
    Upstream,
    UpstreamGroup,
    WeightedRoundRobin,
)
from tests.edge.proxy.backends import (
    RawBackend,
    proxy,
    raw_backend,
    read_request,
    response,
    serve_ok,
    wait_until,
)


def _names(url: str, count: int, **kw: object) -> list[str]:
    with httpx.Client(timeout=10) as client:
        return [client.get(url + "/", **kw).text for _ in range(count)]  # type: ignore[arg-type]


def test_round_robin_takes_each_server_in_turn() -> None:
    with (
        raw_backend(serve_ok, "a") as a,
        raw_backend(serve_ok, "b") as b,
        raw_backend(serve_ok, "c") as c,
    ):
        group = UpstreamGroup([a.url, b.url, c.url], RoundRobin())
        with proxy(group) as (server, _):
            assert _names(server.url, 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_smooth_weighted_round_robin_spreads_by_weight() -> None:
    with raw_backend(serve_ok, "a") as a, raw_backend(serve_ok, "b") as b:
        group = UpstreamGroup(
            [Upstream(a.url, weight=3), Upstream(b.url, weight=1)], WeightedRoundRobin()
        )
        with proxy(group) as (server, _):
            names = _names(server.url, 40)
    # nginx's smooth order for 3:1 is a a b a, repeated: never three a's then a b burst.
    assert names[:4] == ["a", "a", "b", "a"]
    assert Counter(names) == {"a": 30, "b": 10}


def test_least_connections_avoids_the_busy_server() -> None:
    def slow_or_fast(backend: RawBackend, sock: object) -> None:
        import socket

        assert isinstance(sock, socket.socket)
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            if request[0].startswith(b"GET /slow"):
                backend.release.wait(10)
            sock.sendall(response(backend.name.encode()))

    with raw_backend(slow_or_fast, "a") as a, raw_backend(slow_or_fast, "b") as b:
        group = UpstreamGroup([a.url, b.url], LeastConnections())
        with proxy(group) as (server, _):
            result: list[str] = []
            slow = threading.Thread(
                target=lambda: result.append(httpx.get(server.url + "/slow", timeout=15).text)
            )
            slow.start()
            wait_until(lambda: len(a.requests) + len(b.requests) == 1, what="the slow request")
            busy = a if a.requests else b
            idle = b if busy is a else a
            # While one request holds the busy server, every other goes to the idle one
            # (round-robin would alternate).
            assert _names(server.url, 6) == [idle.name] * 6
            busy.release.set()
            idle.release.set()
            slow.join(15)
            assert result == [busy.name]
            assert [s.active for s in group.servers] == [0, 0]


def test_consistent_hash_on_a_header_is_sticky_and_spreads() -> None:
    with (
        raw_backend(serve_ok, "a") as a,
        raw_backend(serve_ok, "b") as b,
        raw_backend(serve_ok, "c") as c,
    ):
        group = UpstreamGroup([a.url, b.url, c.url], ConsistentHash("header:x-user"))
        with proxy(group) as (server, _), httpx.Client(timeout=10) as client:
            first = {}
            for user in range(30):
                first[user] = client.get(server.url, headers={"x-user": f"u{user}"}).text
            for user in range(30):
                again = {
                    client.get(server.url, headers={"x-user": f"u{user}"}).text for _ in range(3)
                }
                assert again == {first[user]}
            assert set(first.values()) == {"a", "b", "c"}


def test_consistent_hash_on_a_cookie_and_on_the_client() -> None:
    with raw_backend(serve_ok, "a") as a, raw_backend(serve_ok, "b") as b:
        group = UpstreamGroup([a.url, b.url], ConsistentHash("cookie:session"))
        with proxy(group) as (server, _), httpx.Client(timeout=10) as client:
            seen = set()
            for n in range(20):
                cookie = {"cookie": f"theme=dark; session=s{n}"}
                names = {client.get(server.url, headers=cookie).text for _ in range(3)}
                assert len(names) == 1
                seen |= names
            assert seen == {"a", "b"}
        group = UpstreamGroup([a.url, b.url], ConsistentHash("client"))
        with proxy(group) as (server, _):
            assert len(set(_names(server.url, 8))) == 1


def test_consistent_hash_moves_only_the_keys_of_a_server_that_left() -> None:
    servers = [Upstream(f"http://127.0.0.1:{port}") for port in (1001, 1002, 1003, 1004)]
    group = UpstreamGroup(servers, ConsistentHash("header:x-k"))
    keys = [f"key-{n}".encode() for n in range(2000)]
    before = {key: group.pick(key) for key in keys}
    assert set(Counter(before.values()).values()) and min(Counter(before.values()).values()) > 300
    servers[1].healthy = False
    after = {key: group.pick(key) for key in keys}
    moved = [key for key in keys if before[key] is not after[key]]
    assert moved and all(before[key] is servers[1] for key in moved)
    assert servers[1] not in after.values()
