"""Listening sockets served by ``HttpConnection``s, and the set of live connections.

``HttpServer`` is what the app server's worker and the edge's worker both run: it accepts on
sockets it is given (binding is the process manager's job), owns the clock whose tick sweeps
deadlines, and shuts down gracefully: stop accepting, close idle connections, let in-flight
exchanges finish up to a bound, then close the rest.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
from collections.abc import Iterable

from frontdesk.http.clock import Clock
from frontdesk.http.connection import Handler, HttpConnection, ServerConnection
from frontdesk.http.limits import HttpLimits

log = logging.getLogger("frontdesk.http")


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        limits: HttpLimits | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        backlog: int = 2048,
    ) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.limits = limits or HttpLimits()
        self.handler = handler
        self.backlog = backlog
        self.connections: set[ServerConnection] = set()
        self.draining = False
        self._holding_idle = False
        self.clock = Clock(self.loop, self._sweep)
        self._servers: list[asyncio.AbstractServer] = []

    def _protocol(self) -> HttpConnection:
        return HttpConnection(self)

    async def start(
        self, sockets: Iterable[socket.socket], *, ssl: _ssl.SSLContext | None = None
    ) -> None:
        """Accept connections on already-bound sockets; with ``ssl``, TLS on the TCP ones.

        May be called more than once, so one server can listen for http and https alike. A
        TLS handshake must complete within ``header_timeout`` (the head's clock starts after).
        """
        self.clock.start()
        for sock in sockets:
            if sock.family == socket.AF_UNIX:
                server = await self.loop.create_unix_server(
                    self._protocol, sock=sock, backlog=self.backlog
                )
            elif ssl is not None:
                server = await self.loop.create_server(
                    self._protocol,
                    sock=sock,
                    backlog=self.backlog,
                    ssl=ssl,
                    ssl_handshake_timeout=self.limits.header_timeout,
                )
            else:
                server = await self.loop.create_server(
                    self._protocol, sock=sock, backlog=self.backlog
                )
            self._servers.append(server)

    def _sweep(self, now: float) -> None:
        for conn in list(self.connections):
            conn.check_deadline(now)
        if self.draining and not self._holding_idle:
            for conn in list(self.connections):
                conn.close_if_idle()

    def stop_accepting(self) -> None:
        """Close the listeners; every response from now on says ``Connection: close``."""
        self.draining = True
        for server in self._servers:
            server.close()

    async def shutdown(self, timeout: float = 30.0, *, hold_idle: bool = False) -> None:
        """Stop accepting, finish in-flight exchanges for up to ``timeout`` seconds, close all.

        ``hold_idle``: for a worker stopping while its siblings go on serving (reload,
        recycling). Closing an idle keep-alive connection races with a client sending its
        next request on it, which would then see the connection close unanswered. Held, idle
        connections stay open until their own deadline (keep-alive or header timeout): a busy
        client's next request is answered (with ``Connection: close``) and it reconnects to a
        sibling. Only then, within the same ``timeout``, does the plain graceful stop run.
        """
        deadline = self.loop.time() + timeout
        self.stop_accepting()
        if hold_idle:
            self._holding_idle = True
            try:
                while self.connections and self.loop.time() < deadline:
                    await asyncio.sleep(0.02)
            finally:
                self._holding_idle = False
        for conn in list(self.connections):
            conn.close_if_idle()
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self.clock.stop()
