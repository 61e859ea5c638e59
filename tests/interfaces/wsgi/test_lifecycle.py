"""A request's life: close() always, errors before and after the head, clients that leave."""

from __future__ import annotations

import contextvars
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.raw import read_until_closed

from .helpers import get, read_reply, wait_until, wsgi_server


class Body:
    """An app iterable that records what happened to it."""

    def __init__(self, parts: list[bytes], fail_at: int = -1, close_fails: bool = False) -> None:
        self.parts = parts
        self.fail_at = fail_at
        self.close_fails = close_fails
        self.closed = threading.Event()
        self.close_calls = 0

    def __iter__(self) -> Iterator[bytes]:
        for i, part in enumerate(self.parts):
            if i == self.fail_at:
                raise RuntimeError(f"failed at part {i}")
            yield part

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()
        if self.close_fails:
            raise RuntimeError("close failed")


def serve_body(body: Body, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain"), *(headers or [])])
        return body

    return app


def app_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "frontdesk.wsgi" and r.levelno >= logging.ERROR]


def test_close_called_after_a_normal_response(threads: int) -> None:
    body = Body([b"a", b"b"])
    with wsgi_server(serve_body(body), threads=threads) as srv:
        assert get(srv.port).body == b"ab"
    assert body.close_calls == 1


def test_exception_before_the_head_gives_500(
    threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    body = Body([b"a", b"b"], fail_at=0)
    with wsgi_server(serve_body(body), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 500 and reply.headers["connection"] == "close"
    assert body.close_calls == 1
    [record] = app_errors(caplog)
    assert record.getMessage() == "Exception in WSGI application"
    assert record.exc_info is not None and "failed at part 0" in str(record.exc_info[1])


def test_exception_in_the_app_call_gives_500(
    threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ZeroDivisionError("in the view")

    with wsgi_server(app, threads=threads) as srv:
        assert get(srv.port).status == 500
        assert get(srv.port).status == 500  # and the server goes on
    records = app_errors(caplog)
    assert len(records) == 2 and all(r.exc_info for r in records)


def test_exception_after_the_head_closes_the_connection(
    threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    body = Body([b"first", b"second"], fail_at=1)
    with wsgi_server(serve_body(body), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 200 and reply.body == b"first" and not reply.complete
    assert body.close_calls == 1
    assert len(app_errors(caplog)) == 1


def test_close_failing_is_an_app_error(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    body = Body([], close_fails=True)
    with wsgi_server(serve_body(body), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.status == 500  # nothing had gone out yet
    assert body.close_calls == 1
    [record] = app_errors(caplog)
    assert record.exc_info is not None and "close failed" in str(record.exc_info[1])


def test_returning_without_start_response(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []

    with wsgi_server(app, threads=threads) as srv:
        assert get(srv.port).status == 500
    assert "without calling start_response" in app_errors(caplog)[0].getMessage()


def test_start_response_inside_the_iterable(threads: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"late start"

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    assert (reply.status, reply.body) == (201, b"late start")


def test_client_leaving_mid_stream(threads: int, caplog: pytest.LogCaptureFixture) -> None:
    produced = [0]
    stop = threading.Event()

    def body() -> Iterator[bytes]:
        try:
            while not stop.is_set() and produced[0] < 20000:
                produced[0] += 1
                yield b"x" * 65536
        finally:
            stop.set()

    class Closing:
        def __init__(self) -> None:
            self.inner = body()
            self.closed = threading.Event()

        def __iter__(self) -> Iterator[bytes]:
            return self.inner

        def close(self) -> None:
            self.inner.close()
            self.closed.set()

    result = Closing()

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return result

    with wsgi_server(app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536)
        sock.close()
        wait_until(result.closed.is_set)
        assert get(srv.port).status == 200
    assert produced[0] < 20000  # stopped early, not after producing everything
    assert not app_errors(caplog)


def test_close_runs_before_the_next_request_on_the_connection(threads: int) -> None:
    events: list[str] = []

    class Tracked:
        def __init__(self, name: str) -> None:
            self.name = name

        def __iter__(self) -> Iterator[bytes]:
            events.append(f"iterate {self.name}")
            yield self.name.encode()

        def close(self) -> None:
            events.append(f"close {self.name}")

    def app(environ: dict[str, Any], start_response: Any) -> Tracked:
        name = environ["PATH_INFO"][1:]
        events.append(f"call {name}")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(name)

    with wsgi_server(app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_reply(sock).body == b"a"
        assert read_reply(sock).body == b"b"
        sock.close()
    assert events == ["call a", "iterate a", "close a", "call b", "iterate b", "close b"]


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def test_context_variables_do_not_leak_between_requests(threads: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen = REQUEST_ID.get()
        REQUEST_ID.set(environ["PATH_INFO"])  # never reset, on purpose
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [seen.encode()]

    with wsgi_server(app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        for path in (b"/1", b"/2", b"/3"):
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            assert read_reply(sock).body == b"unset"
        sock.close()


def test_limit_concurrency_answers_503(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    with wsgi_server(app, threads=4, limit_concurrency=1) as srv:
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(entered.is_set)
        busy = get(srv.port)
        release.set()
        assert read_reply(slow).body == b"done"
        slow.close()
        wait_until(lambda: get(srv.port).status == 200)
    assert busy.status == 503 and busy.headers["retry-after"] == "1"


def test_limit_max_requests_calls_back(threads: int) -> None:
    called = threading.Event()
    app = serve_body(Body([b"x"]))
    with wsgi_server(app, threads=threads, limit_max_requests=2, on_max_requests=called.set) as srv:
        get(srv.port)
        assert not called.is_set()
        get(srv.port)
        assert called.is_set()


def test_base_exception_in_a_worker_closes_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise SystemExit(3)

    with (
        wsgi_server(app, threads=4) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_until_closed(sock) == b""  # not an Exception: no answer, as in ASGI
        wait_until(lambda: app_errors(caplog))  # logged once the worker has let go of it
    [record] = app_errors(caplog)
    assert record.getMessage() == "WSGI request failed"
    assert isinstance(record.exc_info and record.exc_info[1], SystemExit)
