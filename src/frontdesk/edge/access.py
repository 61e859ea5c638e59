"""The edge's access log: one line per request, the same line the app server writes.

The outermost handler of a site when ``--access-log`` is on. It gives each exchange a trip
(``observe.journey.Trip``) that adds nothing to the response and writes the access line once
the exchange is over, however it ended. The proxy fills in the request id it sent upstream,
so the edge's line and the app server's line for one request carry the same ``rid=``.
"""

from __future__ import annotations

from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.observe.journey import Journey, Trip

__all__ = ["AccessLog"]


class AccessLog:
    def __init__(self, inner: Handler, trusted: TrustedProxies) -> None:
        self.inner = inner
        self.journey = Journey(trusted, interface="edge", access=True)

    def handle(self, exchange: Exchange) -> None:
        # No request id, no start time, no trace: this trip only counts and logs.
        exchange.trip = Trip(self.journey, None, -1, False)
        self.inner.handle(exchange)
