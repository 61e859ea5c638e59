"""An Exchange-like wrapper, for filters that change a response on its way out.

A filter that rewrites the response (adds a field, compresses the body) hands its inner
handler an ``ExchangeProxy`` instead of the core's ``Exchange``. The proxy forwards
everything to the exchange it wraps; subclasses override the response side (``start``,
``write``, ``end``, ``sendfile``), so the inner handler cannot tell the difference. Reads of
anything not defined here (the body, the connection facts) fall through to the wrapped
exchange, so proxies nest: each filter wraps what it was handed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from frontdesk.http.prepared import block_fields

if TYPE_CHECKING:
    import asyncio

    from frontdesk.http.exchange import Exchange
    from frontdesk.http.prepared import PreparedHead
    from frontdesk.http.request import Request
    from frontdesk.observe.journey import Trip

Fields = list[tuple[bytes, bytes]]


class ExchangeProxy:
    """Forwards to ``inner``; override the response methods to change what goes out."""

    # Slots: one proxy is made per request (a subclass without slots of its own still works)
    __slots__ = ("inner", "received", "request")

    def __init__(self, inner: Exchange) -> None:
        self.inner = inner
        # Facts fixed for the exchange's life, read on every request: plain attributes.
        self.request: Request = inner.request
        self.received: float = inner.received

    def as_exchange(self) -> Exchange:
        """This proxy, typed as what handlers take (it has the same surface)."""
        return cast("Exchange", self)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not found on the proxy: the request side and connection facts.
        return getattr(self.inner, name)

    # -- what handlers read most, typed ---------------------------------------------------

    @property
    def trip(self) -> Trip | None:
        return self.inner.trip

    @trip.setter
    def trip(self, value: Trip | None) -> None:
        self.inner.trip = value

    @property
    def client(self) -> tuple[str, int] | None:
        return self.inner.client

    @property
    def scheme(self) -> str:
        return self.inner.scheme

    @property
    def disconnected(self) -> bool:
        return self.inner.disconnected

    @property
    def started(self) -> bool:
        return self.inner.started

    @property
    def finished(self) -> bool:
        return self.inner.finished

    @property
    def status(self) -> int:
        return self.inner.status

    @property
    def keep_alive(self) -> bool:
        return self.inner.keep_alive

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None:
        self.inner.keep_alive = value

    @property
    def write_paused(self) -> bool:
        return self.inner.write_paused

    # -- the response side: what subclasses override --------------------------------------

    def start(
        self, status: int, headers: Iterable[Sequence[bytes]], *, trailers: bool = False
    ) -> None:
        self.inner.start(status, headers, trailers=trailers)

    def start_prepared(
        self,
        head: PreparedHead,
        extra: Fields | None = None,
        *,
        trailers: bool = False,
        more: bytes = b"",
    ) -> None:
        # A filter rewrites heads in ``start``: a prepared head reaches it as its fields.
        fields = [*head.fields, *(extra or ())]
        if more:
            fields += block_fields(more)
        self.start(head.status, fields, trailers=trailers)

    def respond(self, head: PreparedHead, body: bytes, more: bytes = b"") -> None:
        # The two calls, each through this proxy: the inner exchange's own ``respond``
        # would send the response past the filter.
        self.start_prepared(head, more=more)
        self.end(body)

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def end(self, data: bytes = b"", trailers: Fields | None = None) -> None:
        self.inner.end(data, trailers)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        await self.inner.sendfile(file, offset, count)

    async def drain(self) -> None:
        await self.inner.drain()

    def send_informational(self, status: int, headers: Fields) -> None:
        self.inner.send_informational(status, headers)

    def switch_protocol(self, head: bytes, protocol: asyncio.Protocol) -> None:
        self.inner.switch_protocol(head, protocol)

    def abort(self) -> None:
        self.inner.abort()
