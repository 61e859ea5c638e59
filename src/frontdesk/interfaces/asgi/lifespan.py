"""The ASGI lifespan protocol: startup before the first connection, shutdown after the last.

An app that raises on the lifespan scope (many do: they only know ``http``) runs without
lifespan, said once in the log. ``startup.failed`` stops the server with the app's message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from frontdesk.errors import AppLoadError
from frontdesk.interfaces.asgi.types import ASGI_VERSION, ASGIApp, Message

log = logging.getLogger("frontdesk.asgi")


class LifespanFailed(AppLoadError):
    """The app answered ``lifespan.startup.failed`` (or ``shutdown.failed``)."""


class Lifespan:
    def __init__(self, app: ASGIApp, *, mode: str = "auto") -> None:
        self.app = app
        self.mode = mode  # "auto": use it if the app supports it; "on": required; "off"
        self.state: dict[str, Any] = {}
        self._receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._failure: str | None = None
        self._unsupported = False
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.mode == "off":
            return
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self._failure is not None:
            raise LifespanFailed(f"application startup failed: {self._failure}")

    async def shutdown(self, timeout: float = 30.0) -> None:
        if self._task is None or self._unsupported or self._task.done():
            return
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._shutdown_done.wait(), timeout)
        except TimeoutError:
            log.warning("application shutdown did not complete within %.1f s", timeout)
            self._task.cancel()
            return
        if self._failure is not None:
            log.error("application shutdown failed: %s", self._failure)

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        try:
            await self.app(scope, self._receive_queue.get, self._send)
        except BaseException as exc:
            if self._startup_done.is_set():
                if not isinstance(exc, Exception):
                    raise
                log.exception("exception in the lifespan protocol after startup")
            elif self.mode == "on":
                self._failure = f"{type(exc).__name__}: {exc}"
                log.exception("the application's lifespan failed")
            else:
                self._unsupported = True
                log.info("ASGI 'lifespan' is not supported by the application; running without it")
                if not isinstance(exc, Exception):
                    raise
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self._startup_done.set()
        elif kind == "lifespan.startup.failed":
            self._failure = str(message.get("message", "")) or "no message"
            self._startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self._failure = str(message.get("message", "")) or "no message"
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected lifespan message {kind!r}")
