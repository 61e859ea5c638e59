"""A request's journey through the proxy: X-Request-Start, Server-Timing, Frontdesk-Trace.

The upstream is a raw socket server that records what the edge sent and answers with the
app server's side of the contract (its own Server-Timing and Frontdesk-Trace fields).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from frontdesk.edge.proxy import Upstream, UpstreamGroup
from frontdesk.interfaces.proxy import TrustedProxies
from tests.edge.proxy.backends import (
    RawBackend,
    free_port,
    proxy,
    raw_backend,
    read_request,
    response,
)

LOOPBACK = TrustedProxies.from_setting(["127.0.0.1", "::1"])
APP_TIMING = b"queue;dur=1.500, app;dur=2.250"
APP_TRACE = b"app; pid=4242; worker=1"
_EDGE_DUR = re.compile(r"edge;dur=(\d+\.\d{3})\Z")


def _fields(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines if line)
    ]


def _field(head: bytes, name: str) -> list[str]:
    return [value for key, value in _fields(head) if key == name]


def app_server(backend: RawBackend, sock: socket.socket) -> None:
    """Answers like a frontdesk app server asked for timing and a trace."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        extra = b"server-timing: " + APP_TIMING + b"\r\nfrontdesk-trace: " + APP_TRACE + b"\r\n"
        sock.sendall(response(b"ok", extra=extra))


def slow_app_server(backend: RawBackend, sock: socket.socket) -> None:
    """Takes 0.6 s before its response head: time the edge must not count as its own."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        backend.release.wait(0.6)
        sock.sendall(response(b"slow"))


def stall(backend: RawBackend, sock: socket.socket) -> None:
    if (request := read_request(sock, bytearray())) is not None:
        backend.record(request[0])
        backend.release.wait(10)


def _edge_ms(timing: str) -> float:
    """The edge's entry of a Server-Timing value; it comes last."""
    match = _EDGE_DUR.search(timing.split(", ")[-1])
    assert match is not None, timing
    return float(match.group(1))


def _trace_params(value: str) -> dict[str, str]:
    kind, *params = value.split("; ")
    assert kind == "edge", value
    return {key: val for key, _, val in (param.partition("=") for param in params)}


def test_trusted_peer_gets_the_whole_journey() -> None:
    with (
        raw_backend(app_server) as backend,
        proxy(UpstreamGroup([backend.url]), prefix="/api", trusted=LOOPBACK) as (server, _),
    ):
        before = time.time()
        answer = httpx.get(f"{server.url}/api/items", headers={"frontdesk-trace": "1"}, timeout=10)
        after = time.time()
    assert answer.status_code == 200 and answer.text == "ok"
    sent = backend.requests[0]
    # X-Request-Start: the edge's clock as the head went upstream, in integer microseconds.
    (start,) = _field(sent, "x-request-start")
    assert re.fullmatch(r"t=\d{16}", start), start
    assert before * 1e6 - 1 <= int(start[2:]) <= after * 1e6 + 1
    assert _field(sent, "frontdesk-trace") == ["1"]
    # Server-Timing: the app server's entries kept, the edge's appended in the same field.
    (timing,) = answer.headers.get_list("server-timing")
    assert timing.startswith(APP_TIMING.decode() + ", edge;dur=")
    assert 0.0 <= _edge_ms(timing) < 10_000
    # Frontdesk-Trace: the app's field, then the edge's own as a separate field.
    app, edge = answer.headers.get_list("frontdesk-trace")
    assert app == APP_TRACE.decode()
    assert _trace_params(edge) == {
        "pid": str(os.getpid()),
        "route": '"/api"',
        "upstream": f'"127.0.0.1:{backend.port}"',
        "attempts": "1",
    }


def test_untrusted_client_cannot_ask_for_a_trace_nor_set_the_start() -> None:
    with (
        raw_backend(app_server) as backend,
        proxy(UpstreamGroup([backend.url]), trusted=TrustedProxies()) as (server, _),
    ):
        answer = httpx.get(
            server.url,
            headers={"frontdesk-trace": "1", "x-request-start": "t=1000000"},
            timeout=10,
        )
    assert answer.status_code == 200
    sent = backend.requests[0]
    assert _field(sent, "frontdesk-trace") == []
    (start,) = _field(sent, "x-request-start")
    assert start != "t=1000000" and re.fullmatch(r"t=\d{16}", start)
    # The upstream's trace field never reaches an untrusted client; timing still does.
    assert "frontdesk-trace" not in answer.headers
    assert answer.headers["server-timing"].startswith(APP_TIMING.decode() + ", edge;dur=")


def test_a_trusted_peers_request_start_is_kept_and_a_malformed_one_replaced() -> None:
    with (
        raw_backend(app_server) as backend,
        proxy(UpstreamGroup([backend.url]), trusted=LOOPBACK) as (server, _),
        httpx.Client(timeout=10) as client,
    ):
        client.get(server.url, headers={"x-request-start": "t=1700000000123456"})
        client.get(server.url, headers={"x-request-start": "t=1700000000.123"})
        client.get(server.url)  # no trace asked: none forwarded, none answered
    first, second, third = backend.requests
    assert _field(first, "x-request-start") == ["t=1700000000123456"]
    (replaced,) = _field(second, "x-request-start")
    assert re.fullmatch(r"t=\d{16}", replaced)
    assert _field(third, "frontdesk-trace") == []


def test_edge_time_leaves_out_the_wait_for_the_upstream() -> None:
    with (
        raw_backend(slow_app_server) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
    ):
        began = time.perf_counter()
        answer = httpx.get(server.url, timeout=10)
        took = time.perf_counter() - began
    assert answer.status_code == 200 and took >= 0.6
    # The response took 600 ms or more, nearly all of it waiting on the upstream; what is
    # left is the edge's own handling (a generous bound: a loaded machine is not measured).
    assert _edge_ms(answer.headers["server-timing"]) < 300.0


def test_error_pages_carry_timing_and_trace() -> None:
    port = free_port()
    group = UpstreamGroup([Upstream(f"http://127.0.0.1:{port}", max_fails=0)])
    with (
        proxy(group, trusted=LOOPBACK) as (server, _),
        httpx.Client(timeout=10) as client,
    ):
        bad = client.get(server.url, headers={"frontdesk-trace": "1"})
        plain = client.get(server.url)
    assert bad.status_code == 502
    _edge_ms(bad.headers["server-timing"])
    (trace,) = bad.headers.get_list("frontdesk-trace")
    params = _trace_params(trace)
    assert params["upstream"] == f'"127.0.0.1:{port}"' and params["attempts"] == "1"
    assert plain.status_code == 502 and "frontdesk-trace" not in plain.headers


def test_503_without_any_server_names_no_upstream() -> None:
    upstream = Upstream("http://127.0.0.1:9")
    upstream.healthy = False  # as the active health check leaves it
    with (
        proxy(UpstreamGroup([upstream]), trusted=LOOPBACK) as (server, _),
    ):
        answer = httpx.get(server.url, headers={"frontdesk-trace": "1"}, timeout=10)
    assert answer.status_code == 503
    _edge_ms(answer.headers["server-timing"])
    params = _trace_params(answer.headers["frontdesk-trace"])
    assert "upstream" not in params and params["attempts"] == "0"


def test_504_edge_time_leaves_out_the_timed_out_wait() -> None:
    with (
        raw_backend(stall) as backend,
        proxy(UpstreamGroup([Upstream(backend.url, max_fails=0)]), read_timeout=0.5) as (
            server,
            _,
        ),
    ):
        answer = httpx.get(server.url, timeout=10)
        backend.release.set()
    assert answer.status_code == 504
    assert _edge_ms(answer.headers["server-timing"]) < 250.0


def test_server_timing_can_be_switched_off() -> None:
    with (
        raw_backend(app_server) as backend,
        proxy(UpstreamGroup([backend.url]), server_timing=False) as (server, _),
    ):
        answer = httpx.get(server.url, timeout=10)
    assert answer.headers.get_list("server-timing") == [APP_TIMING.decode()]


def test_trace_names_a_unix_socket_upstream(uvicorn_url: str) -> None:
    with proxy(UpstreamGroup([uvicorn_url]), trusted=LOOPBACK) as (server, _):
        answer = httpx.get(f"{server.url}/echo", headers={"frontdesk-trace": "1"}, timeout=10)
    assert answer.status_code == 200
    headers = answer.json()["headers"]
    assert headers["frontdesk-trace"] == "1"
    assert re.fullmatch(r"t=\d{16}", headers["x-request-start"])
    params = _trace_params(answer.headers["frontdesk-trace"])
    assert params["upstream"] == f'"{uvicorn_url}"'  # unix:/path
    assert Path(uvicorn_url[5:]).is_socket()
    _edge_ms(answer.headers["server-timing"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_sees_both_trace_fields_in_order() -> None:
    with (
        raw_backend(app_server) as backend,
        proxy(UpstreamGroup([backend.url]), trusted=LOOPBACK) as (server, _),
    ):
        out = subprocess.run(
            ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", "Frontdesk-Trace: 1", server.url],
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout
    head = out.split(b"\r\n\r\n")[0]
    traces = _field(head, "frontdesk-trace")
    assert traces[0] == APP_TRACE.decode() and traces[1].startswith("edge; pid=")
    assert len(traces) == 2
