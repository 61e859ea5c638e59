"""Servers for the edge filter and TLS tests: an ``HttpServer`` on a loopback socket (IPv4 or
IPv6, plain or TLS) on its own loop in a thread, and handlers scripted by a function.

Errors logged under ``frontdesk`` by the server thread, and exceptions of scripted handlers,
are collected in ``errors``; the context manager fails the test when any were.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from frontdesk.http import Exchange, Handler, HttpLimits, HttpServer

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Linux
    uvloop = None

Script = Callable[[Exchange], Awaitable[None] | None]


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class Scripted:
    """A handler running ``script(exchange)``; a coroutine becomes a task on the loop."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, exchange: Exchange) -> None:
        result = self.script(exchange)
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(self._run(result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except Exception as exc:
            self.errors.append(exc)


def text(exchange: Exchange, body: bytes = b"ok", status: int = 200) -> None:
    exchange.start(status, [(b"content-type", b"text/plain")])
    exchange.end(body)


class _Collect(logging.Handler):
    def __init__(self, thread: threading.Thread, errors: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.thread = thread
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread.ident:
            self.errors.append(record.getMessage())


class LoopServer:
    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        limits: HttpLimits | None = None,
        loop_kind: str = "asyncio",
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.sock.setblocking(False)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        netloc = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"{'https' if tls else 'http'}://{netloc}:{self.port}"
        self.handler = handler
        self.tls = tls
        self.limits = limits or HttpLimits()
        if loop_kind == "uvloop" and uvloop is not None:
            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self.server: HttpServer | None = None
        self.errors: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-test-server", daemon=True)
        self._log = _Collect(self._thread, self.errors)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(str(context.get("exception") or context.get("message")))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = HttpServer(self.handler, self.limits)
            await self.server.start([self.sock], ssl=self.tls)

        self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> LoopServer:
        logging.getLogger("frontdesk").addHandler(self._log)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("server thread did not start")
        return self

    def call_soon(self, callback: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(callback)

    def stop(self) -> None:
        try:
            if self.server is not None:
                server = self.server
                future = asyncio.run_coroutine_threadsafe(server.shutdown(1.0), self.loop)
                future.result(15)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
        finally:
            self.sock.close()
            logging.getLogger("frontdesk").removeHandler(self._log)


@contextmanager
def serve(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    limits: HttpLimits | None = None,
    loop_kind: str = "asyncio",
) -> Iterator[LoopServer]:
    """A running server; on the way out, stopped and checked for errors."""
    server = LoopServer(handler, host=host, tls=tls, limits=limits, loop_kind=loop_kind).start()
    try:
        yield server
    finally:
        server.stop()
    scripted: list[BaseException] = []
    layer: Any = handler
    while layer is not None:  # down the filters to the scripted handler
        scripted += getattr(layer, "errors", [])
        layer = getattr(layer, "inner", None)
    assert server.errors == [] and scripted == [], (server.errors, scripted)
