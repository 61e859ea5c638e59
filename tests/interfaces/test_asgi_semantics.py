"""ASGI semantics over a real socket: disconnects, 100-continue, back-pressure, lifespan."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest

from frontdesk.interfaces.asgi import ASGIHandler, Lifespan
from frontdesk.interfaces.asgi.lifespan import LifespanFailed
from tests.support.raw import read_until_closed
from tests.support.threaded import serving


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_send_after_client_left_raises_oserror_and_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(2000):
                await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
                await asyncio.sleep(0.001)
        except OSError as exc:
            outcome["error"] = exc
            raise
        outcome["finished"] = True

    with serving(ASGIHandler(app)) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.recv(65536)
        sock.close()
        wait_until(lambda: "error" in outcome or "finished" in outcome)
    assert isinstance(outcome.get("error"), OSError)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_100_continue_only_when_the_app_reads() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/read":
            message = await receive()
            body = message["body"]
        else:
            body = b"not read"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    with serving(ASGIHandler(app)) as srv:
        head = b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(head % b"/read")
        interim = sock.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        assert read_until_closed_or(sock, b"data").startswith(b"HTTP/1.1 200 OK")
        sock.close()

        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(head % b"/skip")
        answer = read_until_closed_or(sock, b"not read")
        assert answer.startswith(b"HTTP/1.1 200 OK")  # no interim response before it
        sock.close()


def read_until_closed_or(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        assert time.monotonic() < deadline
    return data


def test_streaming_app_waits_while_client_does_not_read() -> None:
    sent = {"bytes": 0}
    chunk = b"y" * 65536

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(400):  # 25 MiB, far more than socket buffers hold
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent["bytes"] += len(chunk)
        await send({"type": "http.response.body", "body": b""})

    with serving(ASGIHandler(app)) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        # Not reading: the app must stall once kernel buffers and the write buffer are full.
        wait_until(lambda: sent["bytes"] > 0)
        previous = -1
        for _ in range(50):
            if sent["bytes"] == previous:
                break
            previous = sent["bytes"]
            time.sleep(0.05)
        assert sent["bytes"] < 400 * len(chunk) / 2
        received = len(read_until_closed(sock, timeout=30))
        sock.close()
    assert sent["bytes"] == 400 * len(chunk)
    assert received > 400 * len(chunk)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_lifespan_unsupported_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("only http")

    async def main() -> None:
        lifespan = Lifespan(app)
        await lifespan.startup()
        await lifespan.shutdown()

    with caplog.at_level(logging.INFO, logger="frontdesk"):
        run(main())
    notes = [r for r in caplog.records if "lifespan" in r.getMessage().lower()]
    assert len(notes) == 1
    assert notes[0].levelno == logging.INFO


def test_lifespan_on_requires_support() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("only http")

    with pytest.raises(LifespanFailed):
        run(Lifespan(app, mode="on").startup())


def test_lifespan_shutdown_is_bounded() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await asyncio.sleep(3600)  # never completes shutdown

    async def main() -> float:
        lifespan = Lifespan(app)
        await lifespan.startup()
        began = time.monotonic()
        await lifespan.shutdown(timeout=0.3)
        return time.monotonic() - began

    assert run(main()) < 5
