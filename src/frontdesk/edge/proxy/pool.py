"""Keep-alive connections to one upstream, kept idle between requests (nginx's ``keepalive``).

The most recently used connection is handed out first: it is the least likely to have been
closed by the upstream's own idle timeout. A connection waiting in the pool that the upstream
closes (or that receives anything) leaves the pool at once, so it is never handed out; the
race where the upstream closes it just as a request is written is left to the proxy's retry.

``max_idle`` connections are kept for ``idle_timeout``. Past that, up to ``max_burst_idle``
in all are kept for ``burst_timeout`` only: under more concurrent requests than
``max_idle``, the connections one burst of requests opened serve the next burst, instead of
being closed as each response ends and opened again a moment later (each a TCP handshake for
both sides, and a socket in TIME_WAIT). When the load drops they close within seconds.

Idle connections expire by one timer per pool, set for the earliest expiry, not one per
connection: a connection going in and out of the pool costs no timer.
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
    #: idle connections kept per upstream for ``idle_timeout``; 0 turns keep-alive off
    max_idle: int = 32
    #: seconds an idle connection is kept
    idle_timeout: float = 60.0
    #: idle connections kept in all, those past ``max_idle`` for ``burst_timeout`` only
    max_burst_idle: int = 256
    #: seconds a connection past ``max_idle`` is kept idle
    burst_timeout: float = 2.0
    #: requests one connection carries before it is closed (0: no limit)
    max_requests: int = 1000
    #: write buffer marks of an upstream connection, and the body bytes read ahead
    buffer_high: int = 64 * 1024
    buffer_low: int = 16 * 1024

    @property
    def max_kept(self) -> int:
        """Most idle connections kept at once."""
        return max(self.max_idle, self.max_burst_idle)


class ConnectionPool:
    __slots__ = (
        "_discarded",
        "_idle",
        "_max_kept",
        "_timer",
        "_timer_at",
        "address",
        "closed",
        "connections_made",
        "options",
    )

    def __init__(self, address: Address, options: PoolOptions) -> None:
        self.address = address
        self.options = options
        self._max_kept = options.max_kept
        self._idle: deque[UpstreamConnection] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        #: ``_discard``, bound once: the ``on_close`` of every connection put back
        self._discarded = self._discard
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
            # (``conn.usable``, spelled out: once per request)
            if not conn.closed and conn.error is None and not conn.upgraded:
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
        reusable = conn.finish()
        idle = self._idle
        count = len(idle)
        if (
            self.closed
            or not reusable
            or not options.max_idle
            or count >= self._max_kept
            or (options.max_requests and conn.requests >= options.max_requests)
        ):
            conn.close()
            return
        until = conn.loop.time() + (
            options.idle_timeout if count < options.max_idle else options.burst_timeout
        )
        conn.idle_until = until
        conn.on_close = self._discarded
        idle.append(conn)
        if self._timer is None or until < self._timer_at:
            self._arm(conn.loop, until)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        expired = [conn for conn in self._idle if conn.idle_until <= now]
        for conn in expired:
            self._idle.remove(conn)
            conn.on_close = None
            conn.close()
        if self._idle:
            self._arm(loop, min(conn.idle_until for conn in self._idle))

    def _discard(self, conn: UpstreamConnection) -> None:
        try:
            self._idle.remove(conn)
        except ValueError:
            pass

    def close(self) -> None:
        """Close the idle connections; connections in use close when given back."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._idle:
            conn = self._idle.pop()
            conn.on_close = None
            conn.close()
