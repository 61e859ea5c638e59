"""Keep-alive connections to one upstream, kept idle between requests (nginx's ``keepalive``).

The most recently used connection is handed out first: it is the least likely to have been
closed by the upstream's own idle timeout. A connection waiting in the pool that the upstream
closes (or that receives anything) leaves the pool at once, so it is never handed out; the
race where the upstream closes it just as a request is written is left to the proxy's retry.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frontdesk.edge.proxy.client import UpstreamConnection, open_connection

if TYPE_CHECKING:
    from frontdesk.edge.proxy.upstream import Address


@dataclass(frozen=True, slots=True)
class PoolOptions:
    #: idle connections kept per upstream; 0 turns keep-alive to upstreams off
    max_idle: int = 32
    #: seconds an idle connection is kept
    idle_timeout: float = 60.0
    #: requests one connection carries before it is closed (0: no limit)
    max_requests: int = 1000
    #: write buffer marks of an upstream connection, and the body bytes read ahead
    buffer_high: int = 64 * 1024
    buffer_low: int = 16 * 1024


class ConnectionPool:
    __slots__ = ("_idle", "address", "closed", "connections_made", "options")

    def __init__(self, address: Address, options: PoolOptions) -> None:
        self.address = address
        self.options = options
        self._idle: deque[UpstreamConnection] = deque()
        self.closed = False
        #: connections opened so far (a statistic for tests and metrics)
        self.connections_made = 0

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    def take(self) -> UpstreamConnection | None:
        """An idle, still open connection, or None."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            conn.on_close = None
            handle = conn.idle_handle
            if handle is not None:
                handle.cancel()
                conn.idle_handle = None
            if conn.usable:
                return conn
            conn.abort()
        return None

    async def connect(self, timeout: float) -> UpstreamConnection:
        options = self.options
        conn = await open_connection(
            self.address, timeout, high=options.buffer_high, low=options.buffer_low
        )
        self.connections_made += 1
        return conn

    def put(self, conn: UpstreamConnection) -> None:
        """Give back a connection whose exchange is over; kept if fit for another one."""
        options = self.options
        conn.finish()
        if (
            self.closed
            or not conn.reusable
            or len(self._idle) >= options.max_idle
            or (options.max_requests and conn.requests >= options.max_requests)
        ):
            conn.close()
            return
        conn.on_close = self._discard
        conn.idle_handle = asyncio.get_running_loop().call_later(options.idle_timeout, conn.close)
        self._idle.append(conn)

    def _discard(self, conn: UpstreamConnection) -> None:
        try:
            self._idle.remove(conn)
        except ValueError:
            pass

    def close(self) -> None:
        """Close the idle connections; connections in use close when given back."""
        self.closed = True
        while self._idle:
            conn = self._idle.pop()
            conn.on_close = None
            conn.close()
