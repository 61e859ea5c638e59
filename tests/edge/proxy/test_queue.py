"""``max_conns`` and the group's queue: requests past the cap wait at the edge, in order."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from frontdesk.config.loader import default_config
from frontdesk.edge.proxy import Upstream, UpstreamGroup
from frontdesk.edge.proxy.queue import SlotQueue
from frontdesk.edge.proxy.upstream import ServerParameters
from frontdesk.edge.site import EdgeSpec, ProxySpec, build_site
from frontdesk.errors import ConfigError
from tests.edge.proxy.backends import (
    RawBackend,
    proxy,
    raw_backend,
    read_request,
    response,
    wait_until,
)


def _holding(backend: RawBackend, sock: socket.socket) -> None:
    """Answer each request with its path; a path starting /hold waits for ``release``."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        path = request[0].split(b" ")[1]
        if path.startswith(b"/hold"):
            backend.release.wait(10)
        sock.sendall(response(path))


class Client(threading.Thread):
    def __init__(self, url: str, method: str = "GET", body: bytes | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.method, self.body = url, method, body
        self.answer: httpx.Response | None = None

    def run(self) -> None:
        self.answer = httpx.request(self.method, self.url, content=self.body, timeout=15)

    def result(self) -> tuple[int, str]:
        self.join(15)
        assert self.answer is not None
        return self.answer.status_code, self.answer.text


def _paths(backend: RawBackend) -> list[bytes]:
    return [head.split(b" ")[1] for head in backend.requests]


def test_requests_past_max_conns_wait_and_go_first_come_first_served() -> None:
    with raw_backend(_holding, "a") as a:
        server = Upstream(a.url, max_conns=1)
        group = UpstreamGroup([server])
        with proxy(group) as (front, _):
            held = Client(front.url + "/hold")
            held.start()
            wait_until(lambda: len(a.requests) == 1, what="the held request upstream")
            # The rest wait at the edge, without a task (GET) or in one (a POST with a body).
            second = Client(front.url + "/second")
            second.start()
            wait_until(lambda: len(group.queue) == 1, what="the second request queued")
            third = Client(front.url + "/third", "POST", b"body")
            third.start()
            wait_until(lambda: len(group.queue) == 2, what="the third request queued")
            assert len(a.requests) == 1 and server.active == 1
            a.release.set()
            assert held.result() == (200, "/hold")
            assert second.result() == (200, "/second")
            assert third.result() == (200, "/third")
        assert _paths(a) == [b"/hold", b"/second", b"/third"]
        assert server.active == 0 and len(group.queue) == 0


def test_a_request_that_waits_past_the_queue_timeout_is_answered_503() -> None:
    with raw_backend(_holding, "a") as a:
        server = Upstream(a.url, max_conns=1)
        group = UpstreamGroup([server], queue=SlotQueue(timeout=0.2))
        with proxy(group) as (front, route):
            held = Client(front.url + "/hold")
            held.start()
            wait_until(lambda: len(a.requests) == 1, what="the held request upstream")
            assert httpx.get(front.url + "/late", timeout=10).status_code == 503
            posted = httpx.post(front.url + "/late-post", content=b"x", timeout=10)
            assert posted.status_code == 503
            assert "x-request-id" in posted.headers and "server-timing" in posted.headers
            a.release.set()
            assert held.result() == (200, "/hold")
            assert route.stats.failures == 2
        assert _paths(a) == [b"/hold"]
        assert server.active == 0


def test_a_full_queue_answers_503_at_once() -> None:
    with raw_backend(_holding, "a") as a:
        group = UpstreamGroup([Upstream(a.url, max_conns=1)], queue=SlotQueue(limit=1))
        with proxy(group) as (front, _):
            held = Client(front.url + "/hold")
            held.start()
            wait_until(lambda: len(a.requests) == 1, what="the held request upstream")
            queued = Client(front.url + "/queued")
            queued.start()
            wait_until(lambda: len(group.queue) == 1, what="a request queued")
            assert httpx.get(front.url + "/refused", timeout=10).status_code == 503
            a.release.set()
            assert held.result() == (200, "/hold")
            assert queued.result() == (200, "/queued")


def test_with_overflow_a_request_that_waited_goes_past_the_cap() -> None:
    with raw_backend(_holding, "a") as a:
        server = Upstream(a.url, max_conns=1)
        group = UpstreamGroup([server], queue=SlotQueue(timeout=0.2, overflow=True))
        with proxy(group) as (front, _):
            held = Client(front.url + "/hold")
            held.start()
            wait_until(lambda: len(a.requests) == 1, what="the held request upstream")
            answer = httpx.get(front.url + "/past", timeout=10)
            posted = httpx.post(front.url + "/past-post", content=b"x", timeout=10)
            assert (answer.status_code, answer.text) == (200, "/past")
            assert (posted.status_code, posted.text) == (200, "/past-post")
            a.release.set()
            assert held.result() == (200, "/hold")
        assert server.active == 0


def test_a_queued_request_goes_to_whichever_server_frees_first() -> None:
    with raw_backend(_holding, "a") as a, raw_backend(_holding, "b") as b:
        group = UpstreamGroup([Upstream(a.url, max_conns=1), Upstream(b.url, max_conns=1)])
        with proxy(group) as (front, _):
            first = Client(front.url + "/hold-1")
            first.start()
            second = Client(front.url + "/hold-2")
            second.start()
            wait_until(lambda: len(a.requests) + len(b.requests) == 2, what="both held")
            third = Client(front.url + "/third")
            third.start()
            wait_until(lambda: len(group.queue) == 1, what="the third request queued")
            a.release.set()  # a frees first; b stays busy
            assert third.result() == (200, "/third")
            assert _paths(a)[-1] == b"/third"
            b.release.set()
            assert {first.result(), second.result()} == {(200, "/hold-1"), (200, "/hold-2")}
        assert [s.active for s in group.servers] == [0, 0]


def test_server_parameters() -> None:
    assert ServerParameters.parse("unix:/run/app.sock") == ServerParameters("unix:/run/app.sock")
    parsed = ServerParameters.parse("unix:/s max_conns=16 queue_timeout=0.5 overflow")
    assert parsed == ServerParameters("unix:/s", 16, False, 0.5, True)
    assert ServerParameters.parse("unix:/s max_conns=2 wsgi_only").wsgi_only
    for bad in ("unix:/s max_conns=x", "unix:/s weight=2", "unix:/s queue_timeout=0"):
        with pytest.raises(ValueError):
            ServerParameters.parse(bad)
    with pytest.raises(ValueError):
        Upstream("unix:/s", max_conns=-1)


def test_the_site_builds_caps_and_the_queue_from_server_parameters() -> None:
    spec = ProxySpec("/", ("unix:/tmp/a.sock max_conns=4 queue_timeout=0.5 overflow",))
    site = build_site(EdgeSpec(proxies=(spec,)))
    group = site.routes[0].group
    assert group.servers[0].max_conns == 4 and group.servers[0].address.path == "/tmp/a.sock"
    assert group.queue.timeout == 0.5 and group.queue.overflow
    with pytest.raises(ConfigError, match="max_conns=N"):
        build_site(EdgeSpec(proxies=(ProxySpec("/", ("unix:/tmp/a.sock weight=3",)),)))


def _traced(interface: bytes) -> Callable[[RawBackend, socket.socket], None]:
    """A backend that answers a Frontdesk-Trace ask as frontdesk's app server does."""

    def behaviour(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            extra = b""
            if b"\r\nfrontdesk-trace: 1\r\n" in request[0].lower():
                extra = b"Frontdesk-Trace: app; pid=1; interface=" + interface + b"\r\n"
            sock.sendall(response(b"ok", extra=extra))

    return behaviour


@pytest.mark.parametrize(("interface", "cap"), [(b"wsgi", 4), (b"asgi3", 0)])
def test_a_wsgi_only_cap_applies_once_the_app_server_says_it_runs_wsgi(
    interface: bytes, cap: int
) -> None:
    with raw_backend(_traced(interface), "a") as a:
        server = Upstream(a.url, max_conns=4, wsgi_only=True)
        group = UpstreamGroup([server])
        assert group.limited and server.max_conns == 0 and not server.full
        with proxy(group) as (front, _), httpx.Client(timeout=10) as client:
            first = client.get(front.url + "/")
            # The ask is the edge's: the client, which did not ask, gets no trace field.
            assert first.status_code == 200 and "frontdesk-trace" not in first.headers
            assert client.get(front.url + "/").status_code == 200
        asked = [b"frontdesk-trace: 1" in head.lower() for head in a.requests]
        assert asked == [True, False]  # asked until answered, on new connections only
        assert (server.max_conns, server.wsgi_conns) == (cap, 0)


def test_the_stack_caps_what_the_edge_sends_a_wsgi_app(tmp_path: Path) -> None:
    from frontdesk.stack.plan import plan_stack

    def server_of(interface: str) -> ServerParameters:
        config = dataclasses.replace(default_config(), workers=3, interface=interface)
        plan = plan_stack(config, "pkg.web:app", str(tmp_path))
        (upstream,) = plan.edge.layout.upstreams
        (entry,) = upstream.servers
        parsed = ServerParameters.parse(entry.address)
        assert parsed.address == f"unix:{plan.apps[0].socket}"
        return parsed

    auto = server_of("auto")
    assert (auto.max_conns, auto.wsgi_only, auto.overflow) == (3 * 16, True, True)
    wsgi = server_of("wsgi")
    assert (wsgi.max_conns, wsgi.wsgi_only) == (3 * 16, False)
    assert server_of("asgi3").max_conns == 0
