"""Admission control shared by the ASGI and WSGI handlers: request counting and limits.

``limit_max_requests``: once that many requests have been taken, ``on_max_requests`` is called
(the server then stops gracefully, answering what it holds); ``limit_concurrency``: beyond
that many requests in flight, a new one is answered 503 at once.
"""

from __future__ import annotations

from collections.abc import Callable

from frontdesk.http.exchange import Exchange

_UNAVAILABLE = b"Service Unavailable: too many concurrent requests\n"
_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", b"1")]


class Admission:
    __slots__ = ("limit_concurrency", "limit_max_requests", "on_max_requests", "requests")

    def __init__(
        self,
        limit_concurrency: int = 0,
        limit_max_requests: int = 0,
        on_max_requests: Callable[[], None] | None = None,
    ) -> None:
        self.limit_concurrency = limit_concurrency
        self.limit_max_requests = limit_max_requests
        self.on_max_requests = on_max_requests
        #: requests taken so far, refused ones included
        self.requests = 0

    def admit(self, exchange: Exchange, in_flight: int) -> bool:
        """Count the request; answer it 503 and return False when it must not run."""
        self.requests += 1
        limit = self.limit_max_requests
        if limit and self.requests == limit and self.on_max_requests is not None:
            self.on_max_requests()  # stop gracefully once this last request is answered
        if self.limit_concurrency and in_flight >= self.limit_concurrency:
            exchange.start(503, _HEADERS)
            exchange.end(_UNAVAILABLE)
            return False
        return True
