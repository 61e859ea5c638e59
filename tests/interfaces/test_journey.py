"""The request's journey on real loopback servers: Server-Timing, tracing, request ids, access log.

Every interface and execution mode (ASGI; WSGI inline and threaded) behind a trusted and an
untrusted peer, with httpx and raw sockets as clients.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from frontdesk.http import Handler, HttpLimits
from frontdesk.interfaces.asgi import ASGIHandler
from frontdesk.interfaces.asgi.websocket import WebSocketOptions
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.interfaces.wsgi import WSGIHandler
from frontdesk.observe.journey import Journey
from tests.interfaces import ws_apps
from tests.observe import journey_apps
from tests.observe.journey_apps import BODY, SLOW, asgi_app, wsgi_app
from tests.support.raw import exchange, read_until_closed
from tests.support.threaded import ThreadedServer, serving

LOOPBACK = TrustedProxies.from_setting(["127.0.0.1", "::1"])
ELSEWHERE = TrustedProxies.from_setting(["10.0.0.0/8"])  # the test client is not trusted
TIMING = re.compile(r"queue;dur=(\d+\.\d{3}), app;dur=(\d+\.\d{3})")
ACCESS = re.compile(r'(\S+) - "(\S+) (\S+) HTTP/(1\.[01])" (\d{3}|-) (\d+) (\d+\.\d{4})s rid=(\S+)')

MODES = ["asgi", "wsgi-inline", "wsgi-threads"]


def _handler(mode: str, journey: Journey | None, **options: Any) -> Handler:
    if mode == "asgi":
        return ASGIHandler(asgi_app, journey=journey, trusted_proxies=LOOPBACK, **options)
    threads = 4 if mode == "wsgi-threads" else 1
    return WSGIHandler(
        wsgi_app, threads=threads, journey=journey, trusted_proxies=LOOPBACK, **options
    )


@contextmanager
def _server(
    mode: str,
    *,
    trusted: TrustedProxies = LOOPBACK,
    access: bool = False,
    **options: Any,
) -> Iterator[ThreadedServer]:
    interface = "asgi" if mode == "asgi" else "wsgi"
    journey = Journey(trusted, interface=interface, access=access, app="tests:app", worker="w#1")
    handler = _handler(mode, journey, **options)
    try:
        with serving(handler) as server:
            yield server
    finally:
        if isinstance(handler, WSGIHandler):
            handler.close()


def _now_us() -> int:
    return time.time_ns() // 1000


def _timing(response: httpx.Response) -> tuple[float, float]:
    values = response.headers.get_list("server-timing")
    assert len(values) == 1, values
    match = TIMING.fullmatch(values[0])
    assert match is not None, values[0]
    return float(match.group(1)), float(match.group(2))


@pytest.mark.parametrize("mode", MODES)
def test_server_timing_measures_queue_and_app(mode: str) -> None:
    with _server(mode) as srv, httpx.Client(base_url=srv.url) as client:
        quick = client.get("/", headers={"x-request-start": f"t={_now_us()}"})
        slow = client.get("/slow", headers={"x-request-start": f"t={_now_us()}"})
        # Queued for 1.5 s before it reached us, as far as the proxy's stamp says.
        queued = client.get("/", headers={"x-request-start": f"t={_now_us() - 1_500_000}"})
    assert quick.status_code == slow.status_code == queued.status_code == 200
    assert quick.content == BODY
    queue, app = _timing(quick)
    assert 0 <= queue < 2000 and 0 <= app < 2000
    queue, app = _timing(slow)
    assert app >= SLOW * 1000
    assert app < SLOW * 1000 + 2000
    queue, app = _timing(queued)
    assert 1500 <= queue < 1500 + 2000


@pytest.mark.parametrize("mode", MODES)
def test_no_timing_without_a_start_or_with_a_malformed_one(mode: str) -> None:
    with _server(mode) as srv, httpx.Client(base_url=srv.url) as client:
        plain = client.get("/")
        others = [
            client.get("/", headers={"x-request-start": value})
            for value in ("1700000000000000", "t=1700000000.123", "t=", "t=-5", "t=1 2")
        ]
    for response in (plain, *others):
        assert response.status_code == 200
        assert "server-timing" not in response.headers
        assert "frontdesk-trace" not in response.headers


@pytest.mark.parametrize("mode", MODES)
def test_a_start_in_the_future_queues_for_zero(mode: str) -> None:
    future = _now_us() + 60_000_000  # the proxy's clock is a minute ahead
    with _server(mode) as srv:
        response = httpx.get(srv.url + "/", headers={"x-request-start": f"t={future}"})
    queue, _app = _timing(response)
    assert queue == 0.0


def test_threads_mode_queue_includes_the_wait_for_a_free_thread() -> None:
    handler = WSGIHandler(wsgi_app, threads=2, journey=Journey(LOOPBACK, interface="wsgi"))
    results: list[tuple[float, float]] = []
    lock = threading.Lock()
    try:
        with serving(handler) as srv:

            def one() -> None:
                r = httpx.get(srv.url + "/slow", headers={"x-request-start": f"t={_now_us()}"})
                with lock:
                    results.append(_timing(r))

            clients = [threading.Thread(target=one) for _ in range(3)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(10)
    finally:
        handler.close()
    assert len(results) == 3
    # Two threads for three slow requests: one of them waited for a thread to free up.
    longest_queue = max(queue for queue, _app in results)
    assert longest_queue >= SLOW * 1000 * 0.9
    assert all(app >= SLOW * 1000 for _queue, app in results)


@pytest.mark.parametrize("mode", MODES)
def test_trace_field_names_the_layer(mode: str) -> None:
    with _server(mode) as srv:
        traced = httpx.get(srv.url + "/", headers={"frontdesk-trace": "1"})
        other = httpx.get(srv.url + "/", headers={"frontdesk-trace": "0"})
    interface = "asgi" if mode == "asgi" else "wsgi"
    assert traced.headers["frontdesk-trace"] == (
        f'app; pid={os.getpid()}; interface={interface}; app="tests:app"; worker=w#1'
    )
    assert "server-timing" not in traced.headers  # no X-Request-Start, no timing
    assert "frontdesk-trace" not in other.headers


@pytest.mark.parametrize("mode", MODES)
def test_untrusted_peer_gets_nothing(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    headers = {
        "x-request-start": f"t={_now_us()}",
        "x-request-id": "forged-1",
        "frontdesk-trace": "1",
    }
    with (
        caplog.at_level(logging.INFO, logger="frontdesk.access"),
        _server(mode, trusted=ELSEWHERE, access=True) as srv,
    ):
        response = httpx.get(srv.url + "/", headers=headers)
        boom = httpx.get(srv.url + "/boom", headers=headers)
    assert response.status_code == 200 and boom.status_code == 500
    for r in (response, boom):
        assert "server-timing" not in r.headers
        assert "frontdesk-trace" not in r.headers
    access = [r.getMessage() for r in caplog.records if r.name == "frontdesk.access"]
    assert len(access) == 2
    assert all(line.endswith(" rid=-") for line in access)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all("forged-1" not in r.getMessage() for r in errors)
    assert all(getattr(r, "request_id", None) is None for r in errors)


@pytest.mark.parametrize("mode", MODES)
def test_access_log_lines(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="frontdesk.access"),
        _server(mode, access=True) as srv,
        httpx.Client(base_url=srv.url) as client,
    ):
        client.get("/a/b?x=1&y=2", headers={"x-request-id": "req-42"})
        client.head("/")
        client.get("/boom")
        client.get("/", headers={"x-forwarded-for": "203.0.113.9"})
        # HTTP/1.0, by hand
        raw = exchange(srv.port, b"GET /old HTTP/1.0\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 ")
    lines = [r.getMessage() for r in caplog.records if r.name == "frontdesk.access"]
    assert len(lines) == 5, lines
    parsed = [ACCESS.fullmatch(line) for line in lines]
    assert all(parsed), lines
    fields = [m.groups() for m in parsed if m is not None]
    client_, method, target, version, status, sent, duration, rid = fields[0]
    assert (client_, method, target, version, status) == (
        "127.0.0.1",
        "GET",
        "/a/b?x=1&y=2",
        "1.1",
        "200",
    )
    assert int(sent) == len(BODY) and float(duration) < 5 and rid == "req-42"
    assert fields[1][1:6] == ("HEAD", "/", "1.1", "200", "0")  # a HEAD response sends no body
    assert fields[1][7] == "-"
    assert fields[2][2] == "/boom" and fields[2][4] == "500"
    assert fields[3][0] == "203.0.113.9"  # the client after trusted proxy resolution
    assert fields[4][2:5] == ("/old", "1.0", "200")


@pytest.mark.parametrize("mode", MODES)
def test_access_log_off_writes_nothing(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), _server(mode) as srv:
        assert httpx.get(srv.url + "/", headers={"x-request-id": "r1"}).status_code == 200
    assert not [r for r in caplog.records if r.name == "frontdesk.access"]


@pytest.mark.parametrize("mode", MODES)
def test_app_error_carries_the_request_id(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    with _server(mode) as srv:
        failed = httpx.get(srv.url + "/boom", headers={"x-request-id": "err-7"})
        unnamed = httpx.get(srv.url + "/boom")
    assert failed.status_code == unnamed.status_code == 500
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    named, plain = errors
    assert named.getMessage().endswith(" rid=err-7")
    assert getattr(named, "request_id", None) == "err-7"
    assert named.exc_info is not None  # the traceback is in the record
    assert "rid=" not in plain.getMessage()
    assert getattr(plain, "request_id", "missing") is None


def test_unsafe_request_ids_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="frontdesk.access"),
        _server("asgi", access=True) as srv,
    ):
        for rid in (b"has space", b'quo"te', b"back\\slash", b"x" * 201, b"caf\xc3\xa9"):
            raw = exchange(
                srv.port,
                b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: " + rid + b"\r\n"
                b"Connection: close\r\n\r\n",
            )
            assert raw.startswith(b"HTTP/1.1 200 ")
    lines = [r.getMessage() for r in caplog.records if r.name == "frontdesk.access"]
    assert len(lines) == 5 and all(line.endswith(" rid=-") for line in lines)


def test_refused_by_admission_is_timed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # limit_concurrency 1: a request arriving while a slow one runs is answered 503 at once.
    with (
        caplog.at_level(logging.INFO, logger="frontdesk.access"),
        _server("asgi", access=True, limit_concurrency=1) as srv,
    ):
        journey_apps.HELD.clear()
        held = threading.Thread(target=httpx.get, args=(srv.url + "/held",), kwargs={"timeout": 20})
        held.start()
        # The held request occupies the one slot for seconds once it runs: no race with it.
        assert journey_apps.HELD.wait(10)
        refused = httpx.get(srv.url + "/", headers={"x-request-start": f"t={_now_us()}"})
        held.join(20)
    assert refused.status_code == 503
    queue, app = _timing(refused)
    assert app == 0.0 and queue >= 0
    assert any('"GET / HTTP/1.1" 503' in r.getMessage() for r in caplog.records)


def test_websockets_are_logged_at_the_handshake(caplog: pytest.LogCaptureFixture) -> None:
    journey = Journey(LOOPBACK, interface="asgi", access=True)
    handler = ASGIHandler(
        ws_apps.echo_app, websocket=WebSocketOptions(ping_interval=0), journey=journey
    )
    headers = {"x-request-id": "ws-1", "x-request-start": f"t={_now_us()}"}
    with caplog.at_level(logging.INFO, logger="frontdesk.access"), serving(handler) as srv:
        url = f"ws://127.0.0.1:{srv.port}/chat"
        with connect(url, proxy=None, additional_headers=headers, open_timeout=10) as ws:
            ws.send("hi")
            assert ws.recv(10) == "hi"
            assert ws.response is not None
            assert "server-timing" not in ws.response.headers  # a 101 carries none
    lines = [r.getMessage() for r in caplog.records if r.name == "frontdesk.access"]
    assert any(
        '"GET /chat HTTP/1.1" 101 0 ' in line and line.endswith("rid=ws-1") for line in lines
    )


def _in_flight(handler: Handler) -> int:
    if isinstance(handler, ASGIHandler):
        return len(handler.tasks)
    assert isinstance(handler, WSGIHandler)
    return len(handler.pending)


@pytest.mark.parametrize("mode", MODES)
def test_a_body_the_core_refuses_is_logged_once(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    limits = HttpLimits(request_body=10)
    journey = Journey(LOOPBACK, interface="wsgi" if mode != "asgi" else "asgi", access=True)
    handler = _handler(mode, journey)
    try:
        with (
            caplog.at_level(logging.INFO),
            serving(handler, limits) as srv,
            socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
        ):
            sock.sendall(
                b"POST /read HTTP/1.1\r\nHost: a\r\nX-Request-ID: big-1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            # The app has the request before its body turns out too large.
            deadline = time.monotonic() + 10
            while not _in_flight(handler):
                assert time.monotonic() < deadline, "the request never reached the app"
                time.sleep(0.01)
            sock.sendall(b"14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n")
            answer = read_until_closed(sock)
    finally:
        if isinstance(handler, WSGIHandler):
            handler.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    lines = [r.getMessage() for r in caplog.records if r.name == "frontdesk.access"]
    assert lines == [lines[0]] and '"POST /read HTTP/1.1" 413 0 ' in lines[0]
    assert lines[0].endswith("rid=big-1")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # not the app's fault
