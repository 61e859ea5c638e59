"""An ASGI request runs at once on its connection's host task: what an app must still see.

The app sees a current task in every step, the same one before and after it suspends; a
context of its own per request; cancellation and timeouts that work across suspensions; and
a connection whose next request is served while the previous app call is still running.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import time
from typing import Any

import anyio
import httpx
import pytest

from frontdesk.interfaces.asgi import ASGIHandler
from frontdesk.interfaces.asgi.eager import TaskHost
from tests.support.threaded import serving

request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


async def _answer(send: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_the_current_task_is_the_same_before_and_after_a_suspension() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        before = asyncio.current_task()
        await asyncio.sleep(0.01)
        after = asyncio.current_task()
        ok = before is not None and before is after
        await _answer(send, b"same" if ok else b"differs")

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url) as client:
        for _ in range(3):  # the same keep-alive connection: its host is reused
            assert client.get("/").text == "same"


def test_a_request_that_never_waits_still_has_a_current_task() -> None:
    seen: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(asyncio.current_task())
        await _answer(send, b"ok")

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/").text == "ok"
        assert client.get("/").text == "ok"
    assert len(seen) == 2 and all(task is not None for task in seen)


def test_context_variables_do_not_leak_between_requests_of_a_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        previous = request_var.get()
        request_var.set(scope["path"])
        if scope["path"] == "/wait":
            await asyncio.sleep(0.01)
            # a suspension keeps the request's own context
            previous += "," + request_var.get()
        await _answer(send, previous.encode())

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/a").text == "unset"
        assert client.get("/b").text == "unset"
        assert client.get("/wait").text == "unset,/wait"
        assert client.get("/c").text == "unset"


def test_anyio_cancel_scopes_and_asyncio_timeouts_work_across_suspensions() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        with anyio.move_on_after(0.05) as scope_a:
            await anyio.sleep(5)
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
            timed_out = False
        except TimeoutError:
            timed_out = True
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.sleep, 0.01)
        await _answer(send, b"%d%d" % (scope_a.cancelled_caught, timed_out))

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        started = time.monotonic()
        assert client.get("/").text == "11"
        assert client.get("/").text == "11"
        assert time.monotonic() - started < 4


def test_the_next_request_is_served_while_the_previous_app_call_goes_on() -> None:
    # Work after the response (as Starlette's background tasks do) keeps the first request's
    # coroutine on the host; the connection's next request must not wait for it.
    release = asyncio.Event()
    state: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/background":
            await _answer(send, b"first")
            state["waiting"] = True
            await release.wait()
            state["done"] = asyncio.current_task()
        else:
            await _answer(send, b"second")
            release.set()

    with serving(ASGIHandler(app)) as srv:
        release = srv.call(_make_event)
        with httpx.Client(base_url=srv.url) as client:
            assert client.get("/background").text == "first"
            _wait_until(lambda: state.get("waiting"))
            assert client.get("/next").text == "second"
            _wait_until(lambda: "done" in state)
    assert state["done"] is not None


async def _make_event() -> asyncio.Event:
    return asyncio.Event()


def test_an_app_that_cancels_its_own_task_after_answering_does_not_break_the_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _answer(send, b"ok")
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_later(0.01, task.cancel)

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url) as client:
        for _ in range(3):
            assert client.get("/").text == "ok"
            time.sleep(0.05)  # let the cancel land on the parked host


def test_pipelined_requests_are_answered_in_order_by_hosted_and_own_tasks() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await asyncio.sleep(0.02)
        await _answer(send, scope["path"].encode())

    paths = [b"/a", b"/slow", b"/b", b"/slow", b"/c"]
    with serving(ASGIHandler(app)) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % p for p in paths))
        received = b""
        while received.count(b"HTTP/1.1 200") < len(paths) or not received.endswith(b"/c"):
            data = sock.recv(65536)
            assert data, f"closed early: {received!r}"
            received += data
        sock.close()
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in received.split(b"HTTP/1.1 200")[1:]]
    assert [body[: len(p)] for body, p in zip(bodies, paths, strict=True)] == paths


def test_an_app_error_after_a_suspension_is_answered_500_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    with serving(ASGIHandler(app)) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/").status_code == 500
        _wait_until(lambda: any("boom" in (r.exc_text or "") for r in caplog.records))


def test_the_host_ends_with_its_connection() -> None:
    hosts: list[TaskHost] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _answer(send, b"ok")

    handler = ASGIHandler(app)
    with serving(handler) as srv:
        with httpx.Client(base_url=srv.url) as client:
            assert client.get("/").text == "ok"

            async def find_hosts() -> None:
                assert srv.server is not None
                for conn in srv.server.connections:
                    host = getattr(conn, "app_host", None)
                    if isinstance(host, TaskHost):
                        hosts.append(host)

            srv.call(find_hosts)
            assert len(hosts) == 1 and not hosts[0].task.done()
        _wait_until(lambda: hosts[0].task.done())
    assert hosts[0].closed
