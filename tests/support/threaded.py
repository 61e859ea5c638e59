"""An ``HttpServer`` on a real loopback socket, run on its own event loop in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from frontdesk.http import Handler, HttpLimits, HttpServer


class ThreadedServer:
    def __init__(
        self,
        handler: Handler,
        limits: HttpLimits,
        loop_factory: Callable[[], asyncio.AbstractEventLoop],
    ):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.handler = handler
        self.limits = limits
        self.loop = loop_factory()
        self.server: HttpServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = HttpServer(self.handler, self.limits)
            await self.server.start([self.sock])

        self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("server thread did not start")
        return self

    def call(self, coro_factory: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def stop(self, graceful: float = 2.0) -> None:
        if self.server is not None:
            server = self.server
            self.call(lambda: server.shutdown(graceful), timeout=graceful + 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self.sock.close()


@contextmanager
def serving(
    handler: Handler,
    limits: HttpLimits | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> Iterator[ThreadedServer]:
    server = ThreadedServer(handler, limits or HttpLimits(), loop_factory).start()
    try:
        yield server
    finally:
        server.stop()
