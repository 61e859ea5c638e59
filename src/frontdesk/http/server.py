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
        if self.draining:
            for conn in list(self.connections):
                conn.close_if_idle()

    async def shutdown(self, timeout: float = 30.0) -> None:
        """Stop accepting, finish in-flight exchanges for up to ``timeout`` seconds, close all."""
        self.draining = True
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close_if_idle()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self.clock.stop()
