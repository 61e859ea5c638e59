"""A worker's HTTP server, whose graceful stop loses no request a client has sent.

A plain graceful stop closes idle keep-alive connections at once. A client may have sent its
next request on one at that very moment; it then sees the connection close unanswered. When
the whole server stops that race cannot be helped, but a worker stops while siblings go on
serving (reload, recycling), so it should not add failures of its own. This server therefore
drains in two steps:

1. stop accepting (siblings accept what waits in the shared listen queue) and answer every
   request from now on with ``Connection: close``, but leave idle connections open until
   their own deadline (``keepalive_timeout`` between requests, ``header_timeout`` for a new
   connection): a busy client sends its next request on it, gets it answered and reconnects
   to a sibling; an idle one is closed when it would have been anyway;
2. then the core's graceful stop: close what is idle, wait for in-flight requests, cut off
   the rest. Both steps together take at most the ``timeout`` given.
"""

from __future__ import annotations

import asyncio

from frontdesk.http import HttpServer

__all__ = ["DrainingServer"]

_POLL = 0.02


class DrainingServer(HttpServer):
    _holding_idle = False

    def _sweep(self, now: float) -> None:
        if self._holding_idle:
            # Deadlines only: idle connections end at their own timeout, not at the sweep.
            for conn in list(self.connections):
                conn.check_deadline(now)
            return
        super()._sweep(now)

    def stop_accepting(self) -> None:
        self.draining = True
        for server in self._servers:
            server.close()

    async def shutdown(self, timeout: float = 30.0) -> None:
        loop = self.loop
        deadline = loop.time() + timeout
        self._holding_idle = True
        self.stop_accepting()
        try:
            while self.connections and loop.time() < deadline:
                await asyncio.sleep(_POLL)
        finally:
            self._holding_idle = False
        await super().shutdown(max(0.0, deadline - loop.time()))
