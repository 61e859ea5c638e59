"""The two execution modes: where the app runs, what waits for what, back-pressure."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

from tests.support.raw import read_until_closed

from .helpers import Reply, get, read_reply, settle, wait_until, wsgi_server


def thread_name_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [threading.current_thread().name.encode()]


async def loop_thread_name() -> str:
    return threading.current_thread().name


def test_inline_runs_on_the_loop_thread() -> None:
    with wsgi_server(thread_name_app, threads=1) as srv:
        assert get(srv.port).body.decode() == srv.call(loop_thread_name)


def test_threads_mode_runs_in_the_pool() -> None:
    with wsgi_server(thread_name_app, threads=4) as srv:
        names = {get(srv.port).body.decode() for _ in range(8)}
    assert names and all(n.startswith("frontdesk-wsgi") for n in names)


def test_a_slow_request_does_not_stall_others_in_threads() -> None:
    release = threading.Event()
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            assert release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with wsgi_server(app, threads=4) as srv:
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(entered.is_set)
        for _ in range(5):
            assert get(srv.port, "/fast").body == b"/fast"
        release.set()
        assert read_reply(slow).body == b"/slow"
        slow.close()


def test_a_slow_upload_does_not_stall_others_inline() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % len(body)]

    with wsgi_server(app, threads=1) as srv:
        upload = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        upload.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf")
        # The loop receives the body without blocking: other clients are served meanwhile.
        for _ in range(5):
            assert get(srv.port).body == b"0"
        upload.sendall(b"-done")
        upload.sendall(b"!")
        assert read_reply(upload).body == b"10"
        upload.close()


CHUNK = b"y" * 65536
COUNT = 400  # 25 MiB: far more than socket buffers hold


def test_streaming_waits_for_a_slow_client(threads: int) -> None:
    produced = [0]

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if environ["PATH_INFO"] == "/other":
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"other"
            return
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(COUNT):
            produced[0] += 1
            yield CHUNK

    with wsgi_server(app, threads=threads) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        wait_until(lambda: produced[0] > 0)
        # Not reading: the app stalls once the buffers are full, and others are served.
        assert settle(lambda: produced[0]) < COUNT / 2
        assert get(srv.port, "/other").body == b"other"
        received = read_until_closed(sock, timeout=30)
        sock.close()
    assert produced[0] == COUNT
    reply = Reply(received)
    assert reply.complete and len(reply.body) == COUNT * len(CHUNK)


def test_write_callable_waits_for_a_slow_client_in_threads() -> None:
    written = [0]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(COUNT):
            write(CHUNK)
            written[0] += 1
        return []

    with wsgi_server(app, threads=4) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        wait_until(lambda: written[0] > 0)
        assert settle(lambda: written[0]) < COUNT / 2
        received = read_until_closed(sock, timeout=30)
        sock.close()
    assert len(Reply(received).body) == COUNT * len(CHUNK)


def test_the_app_sees_no_running_loop(threads: int, loop_factory: Any) -> None:
    # As under a synchronous server: Django allows database calls, asyncio.run() works.
    async def answer() -> bytes:
        return b"from asyncio.run"

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            running = b"no loop"
        else:
            running = b"a running loop"
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield running + b", " + asyncio.run(answer())
        yield b", then streamed"

    with wsgi_server(app, threads=threads, loop_factory=loop_factory) as srv:
        for _ in range(2):
            assert get(srv.port).body == b"no loop, from asyncio.run, then streamed"
