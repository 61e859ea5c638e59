"""Backends for the proxy tests: real gunicorn and uvicorn processes, and raw-socket servers
in threads that misbehave on purpose (reset, stall, talk nonsense, close kept-alive sockets).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from frontdesk.edge.proxy import ProxyOptions, ProxyRoute, UpstreamGroup
from frontdesk.http import HttpLimits
from tests.support.threaded import ThreadedServer, serving

APPS = Path(__file__).resolve().parent / "apps"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` (every 10 ms) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)


class BackendProcess:
    """A gunicorn or uvicorn child, in its own process group, found by its log line."""

    def __init__(self, args: list[str], ready: str, name: str) -> None:
        env = dict(os.environ, BACKEND_NAME=name, PYTHONUNBUFFERED="1")
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=APPS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._ready = re.compile(ready)
        self._found = threading.Event()
        self.match: re.Match[str] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._found.wait(30):
            self.kill()
            raise AssertionError(f"{args[0]} did not start:\n" + "\n".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.match is None:
                match = self._ready.search(line)
                if match:
                    self.match = match
                    self._found.set()
        self._found.set()

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) and reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(15)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def gunicorn(name: str) -> tuple[BackendProcess, str]:
    """gunicorn (threaded workers: they keep connections alive) on a loopback port."""
    args = ["gunicorn", "-b", "127.0.0.1:0", "-w", "2", "-k", "gthread", "--threads", "8"]
    args += ["--keep-alive", "30", "--graceful-timeout", "2", "wsgi_app:app"]
    process = BackendProcess(args, r"Listening at: (http://\S+)", name)
    assert process.match is not None, "\n".join(process.lines)
    return process, process.match.group(1)


def uvicorn(name: str, uds: Path) -> tuple[BackendProcess, str]:
    """uvicorn on a unix socket, with the websockets library for WebSocket."""
    args = ["uvicorn", "asgi_app:app", "--uds", str(uds), "--ws", "websockets"]
    args += ["--timeout-keep-alive", "30", "--log-level", "info"]
    process = BackendProcess(args, r"Uvicorn running on", name)
    assert process.match is not None, "\n".join(process.lines)
    return process, f"unix:{uds}"


# -- raw-socket backends -------------------------------------------------------------------


def read_request(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """One request (head, body) from ``sock``; None when the peer closed first.

    ``buffer`` carries bytes read past one request into the next call.
    """
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < length:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    body = bytes(buffer[:length])
    del buffer[:length]
    return head, body


def response(body: bytes = b"ok", status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %b\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n%b\r\n%b" % (
        status.encode(),
        len(body),
        extra,
        body,
    )


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


Behaviour = Callable[["RawBackend", socket.socket], None]


class RawBackend:
    """A thread-per-connection TCP server; ``behaviour(backend, sock)`` runs per connection."""

    def __init__(self, behaviour: Behaviour, name: str = "raw") -> None:
        self.behaviour = behaviour
        self.name = name
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[bytes] = []
        #: set by a test to let stalled behaviours go on
        self.release = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def record(self, head: bytes) -> int:
        with self.lock:
            self.requests.append(head)
            return len(self.requests)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self._closed:
                    sock.close()
                    return
                self.connections += 1
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(15)
        try:
            self.behaviour(self, sock)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        with self.lock:
            self._closed = True
            socks = list(self._socks)
        self.release.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        self._accepter.join(5)


@contextmanager
def raw_backend(behaviour: Behaviour, name: str = "raw") -> Iterator[RawBackend]:
    backend = RawBackend(behaviour, name)
    try:
        yield backend
    finally:
        backend.close()


def serve_ok(backend: RawBackend, sock: socket.socket) -> None:
    """Answer every request on the connection with the backend's name (keep-alive)."""
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        sock.sendall(response(backend.name.encode()))


def free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


@contextmanager
def proxy(
    group: UpstreamGroup,
    options: ProxyOptions | None = None,
    prefix: str = "/",
    *,
    loop_kind: str = "asyncio",
    limits: HttpLimits | None = None,
    wrap: Callable[[Any], Any] | None = None,
    **kw: Any,
) -> Iterator[tuple[ThreadedServer, ProxyRoute]]:
    """A ProxyRoute to ``group`` served on a loopback port in a thread (``wrap``: a filter
    put in front of it, given the route)."""
    if kw:
        options = ProxyOptions(**kw)
    route = ProxyRoute(prefix, group, options)
    handler = route if wrap is None else wrap(route)
    with serving(handler, limits, _loop_factory(loop_kind)) as server:
        try:
            yield server, route
        finally:
            server.call(route.close)
