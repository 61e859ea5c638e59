"""Per-client concurrency limit (nginx's ``limit_conn``): requests in flight per address.

A request counts from the moment it is handed over until its response has ended or its
client has gone. On HTTP/1.1 a connection carries one request at a time, so this counts the
client's busy connections; idle keep-alive connections do not count, as in nginx. Past the
limit the request is refused with 503, as nginx does (``limit_conn_status``; 429 is a
common choice).

Nothing has to report the end of a request: the filter keeps the exchanges themselves and
drops the finished ones when it next counts, so a handler that never ends a response to a
client that went away cannot leak a slot.
"""

from __future__ import annotations

from frontdesk.edge.filters.keys import ClientKey, client_address
from frontdesk.edge.filters.respond import refuse
from frontdesk.errors import ConfigError
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange

_SWEEP_FLOOR = 1024


def _live(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if not (e.finished or e.disconnected)]


class ConnectionLimitFilter:
    """At most ``limit`` requests in flight per client in ``inner``."""

    def __init__(
        self,
        inner: Handler,
        limit: int,
        *,
        status: int = 503,
        key: ClientKey = client_address,
    ) -> None:
        if limit < 1:
            raise ConfigError(f"connection limit must be >= 1, not {limit}")
        self.inner = inner
        self.limit = limit
        self.status = status
        self.key = key
        self._flights: dict[str, list[Exchange]] = {}
        self._sweep_at = _SWEEP_FLOOR

    def in_flight(self, key: str) -> int:
        """Requests of ``key`` being served now."""
        return len(_live(self._flights.get(key, [])))

    def handle(self, exchange: Exchange) -> None:
        key = self.key(exchange)
        if key is None:
            self.inner.handle(exchange)
            return
        flights = self._flights
        current = _live(flights.get(key, []))
        if len(current) >= self.limit:
            flights[key] = current
            refuse(exchange, self.status, "too many concurrent requests from this client")
            return
        current.append(exchange)
        flights[key] = current
        if len(flights) > self._sweep_at:
            self._sweep()
        self.inner.handle(exchange)

    def _sweep(self) -> None:
        # Keys of clients with nothing in flight, dropped in one pass; the next sweep comes
        # when the table has doubled again, so the cost per request stays constant.
        for key in list(self._flights):
            live = _live(self._flights[key])
            if live:
                self._flights[key] = live
            else:
                del self._flights[key]
        self._sweep_at = max(_SWEEP_FLOOR, 2 * len(self._flights))
