"""Passive health (failures take a server out for a while) and active HTTP health checks."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx

from frontdesk.edge.proxy import HealthCheck, HealthChecker, Upstream, UpstreamGroup
from tests.edge.proxy.backends import (
    RawBackend,
    free_port,
    proxy,
    raw_backend,
    read_request,
    response,
    serve_ok,
    wait_until,
)


def test_passive_health_takes_a_failing_server_out_then_back() -> None:
    dead = Upstream(f"http://127.0.0.1:{free_port()}", max_fails=2, fail_timeout=0.5)
    with raw_backend(serve_ok, "good") as good:
        group = UpstreamGroup([dead, Upstream(good.url)])
        with proxy(group) as (server, route), httpx.Client(timeout=10) as client:
            # Each failure is retried on the good server: the client never sees it.
            assert [client.get(server.url).text for _ in range(6)] == ["good"] * 6
            assert not dead.available()
            assert route.stats.retries == 2  # two tries at the dead one, then it was out
            # After fail_timeout it is tried again (and fails again, unseen by the client).
            wait_until(dead.available, timeout=5, what="fail_timeout to pass")
            assert client.get(server.url).text == "good"
            assert route.stats.retries == 3


def test_failures_outside_the_window_do_not_add_up() -> None:
    server = Upstream("http://127.0.0.1:1", max_fails=2, fail_timeout=10)
    server.record_failure(now=100.0)
    server.record_failure(now=111.0)
    assert server.available(now=111.0)
    server.record_failure(now=112.0)
    assert not server.available(now=112.0)
    assert server.available(now=122.5)


def health_by_flag(backend: RawBackend, sock: socket.socket) -> None:
    """/health answers 200 while ``backend.release`` is set, else 503."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        if request[0].startswith(b"GET /health"):
            ok = backend.release.is_set()
            sock.sendall(response(b"", "200 OK" if ok else "503 Service Unavailable"))
        else:
            sock.sendall(response(backend.name.encode()))


def test_active_health_checks_fall_and_rise() -> None:
    with raw_backend(health_by_flag, "a") as a, raw_backend(serve_ok, "b") as b:
        a.release.set()
        group = UpstreamGroup([a.url, b.url])
        check = HealthCheck(path="/health", interval=0.05, timeout=1, rise=2, fall=2)
        changes: list[tuple[str, bool]] = []
        changed = threading.Event()

        def on_change(server: Upstream, healthy: bool) -> None:
            changes.append((server.name, healthy))
            changed.set()

        checker = HealthChecker(group, check, on_change=on_change)
        with proxy(group) as (server, _), httpx.Client(timeout=10) as client:
            server.call(lambda: _start(checker))
            a.release.clear()  # /health now fails
            assert changed.wait(10)
            assert changes == [(a.url, False)]
            assert {client.get(server.url).text for _ in range(4)} == {"b"}
            changed.clear()
            a.release.set()
            assert changed.wait(10)
            assert changes == [(a.url, False), (a.url, True)]
            assert {client.get(server.url).text for _ in range(4)} == {"a", "b"}
            server.call(checker.stop)
            assert not checker.running
        assert checker.rounds >= 4


async def _start(checker: HealthChecker) -> None:
    checker.start()


def test_a_probe_that_times_out_or_is_refused_fails() -> None:
    def silent(backend: RawBackend, sock: socket.socket) -> None:
        backend.release.wait(10)

    with raw_backend(silent) as quiet:
        refused = Upstream(f"http://127.0.0.1:{free_port()}")
        group = UpstreamGroup([Upstream(quiet.url), refused])
        checker = HealthChecker(group, HealthCheck(timeout=0.2, fall=1), on_change=None)

        async def probe_all() -> list[bool]:
            return [await checker.probe(s) for s in group.servers]

        assert asyncio.run(probe_all()) == [False, False]
        asyncio.run(checker.run_once())
        assert [s.healthy for s in group.servers] == [False, False]


def test_servers_can_start_unhealthy_until_proven() -> None:
    with raw_backend(health_by_flag) as a:
        a.release.set()
        group = UpstreamGroup([a.url])
        checker = HealthChecker(group, HealthCheck(path="/health", rise=2, start_healthy=False))
        assert group.pick() is None
        asyncio.run(checker.run_once())
        assert group.pick() is None
        asyncio.run(checker.run_once())
        assert group.pick() is group.servers[0]
