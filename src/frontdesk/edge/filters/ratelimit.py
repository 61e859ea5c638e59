"""Per-client request rate limiting with token buckets (nginx's ``limit_req``).

Each client has a bucket holding up to ``burst`` tokens, refilled at ``rate`` tokens a
second; a request takes one. With a token at hand the request goes through at once. Without
one, up to ``queue`` further requests are *delayed* until their token would be there (they
are served at ``rate``, smoothing a spike), and any request beyond is refused with 429 and a
``Retry-After`` telling when it would be accepted.

``queue=0`` is nginx's ``nodelay``: a burst is served at once or refused, never held. The
nginx directives map onto this as:

- ``limit_req burst=B nodelay``  ->  ``burst=B + 1, queue=0``
- ``limit_req burst=B``          ->  ``burst=1, queue=B``
- ``limit_req burst=B delay=D``  ->  ``burst=D + 1, queue=B - D``

Buckets live in a table bounded by ``max_clients``, kept in least-recently-used order. A
bucket that has refilled is the same as no bucket, so idle ones are dropped as requests come
(two looked at per request, oldest first); when the table is full of busy clients the least
recently seen one is dropped anyway, which at worst hands that client a fresh burst.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from frontdesk.edge.filters.keys import ClientKey, client_address
from frontdesk.edge.filters.respond import refuse
from frontdesk.errors import ConfigError
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange

log = logging.getLogger("frontdesk.edge")


class Verdict(NamedTuple):
    #: the request may go through (after ``wait`` seconds); else it is refused
    admitted: bool
    #: admitted: the delay before serving it; refused: seconds until one would be admitted
    wait: float


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last


class TokenBuckets:
    """One token bucket per key, in a bounded table. ``clock`` returns seconds (monotonic)."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        queue: int = 0,
        max_keys: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0:
            raise ConfigError(f"rate limit must be above 0 requests a second, not {rate}")
        if burst < 1 or queue < 0 or max_keys < 1:
            raise ConfigError("rate limit burst and table size must be >= 1, queue >= 0")
        self.rate = float(rate)
        self.burst = burst
        self.queue = queue
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> Verdict:
        """Take a token for ``key`` now (or borrow one, within the queue)."""
        now = self.clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = buckets[key] = _Bucket(float(self.burst), now)
        else:
            buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.last)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.last = now
        tokens = bucket.tokens
        if tokens >= 1.0:
            bucket.tokens = tokens - 1.0
            return Verdict(True, 0.0)
        if tokens - 1.0 >= -self.queue:
            # Borrowed from the future: served once the bucket is back at zero.
            bucket.tokens = tokens - 1.0
            return Verdict(True, (1.0 - tokens) / self.rate)
        return Verdict(False, (1.0 - self.queue - tokens) / self.rate)

    def _make_room(self, now: float) -> None:
        buckets = self._buckets
        for _ in range(2):
            if not buckets:
                return
            key, oldest = next(iter(buckets.items()))
            if oldest.tokens + (now - oldest.last) * self.rate < self.burst:
                break  # the least recently used is still refilling: so are the others
            del buckets[key]
        if len(buckets) >= self.max_keys:
            buckets.popitem(last=False)


class RateLimitFilter:
    """Serves ``inner`` at most ``rate`` requests a second per client (see the module doc)."""

    def __init__(
        self,
        inner: Handler,
        rate: float,
        burst: int = 1,
        *,
        queue: int = 0,
        status: int = 429,
        key: ClientKey = client_address,
        max_clients: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.buckets = TokenBuckets(rate, burst, queue=queue, max_keys=max_clients, clock=clock)
        self.status = status
        self.key = key

    def handle(self, exchange: Exchange) -> None:
        key = self.key(exchange)
        if key is None:
            self.inner.handle(exchange)
            return
        admitted, wait = self.buckets.take(key)
        if not admitted:
            retry = max(1, math.ceil(wait))
            headers = [(b"retry-after", b"%d" % retry)]
            refuse(exchange, self.status, "request rate limit reached", headers)
        elif wait <= 0.0:
            self.inner.handle(exchange)
        else:
            asyncio.get_running_loop().call_later(wait, self._handle_later, exchange)

    def _handle_later(self, exchange: Exchange) -> None:
        if exchange.disconnected:
            return  # nobody to answer; the connection and its exchange are gone
        # Outside the core's call into the handler, so its error handling is repeated here.
        try:
            self.inner.handle(exchange)
        except Exception:
            log.exception("request handler failed")
            if exchange.started:
                exchange.abort()
            else:
                exchange.keep_alive = False
                refuse(exchange, 500, "internal server error")
