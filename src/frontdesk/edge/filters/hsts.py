"""HTTP Strict Transport Security (RFC 6797): tell browsers to come back over https only.

The field is added to responses sent over TLS only: on plain http a browser must ignore it
(RFC 6797 8.1), and a man in the middle could strip or forge it there anyway. A response
that already carries the field keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from frontdesk.edge.filters.proxy import ExchangeProxy
from frontdesk.errors import ConfigError
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange

_FIELD = b"strict-transport-security"


def hsts_value(max_age: int, include_subdomains: bool = True, preload: bool = False) -> bytes:
    if max_age < 0:
        raise ConfigError(f"HSTS max-age must be >= 0 seconds, not {max_age}")
    value = b"max-age=%d" % max_age
    if include_subdomains:
        value += b"; includeSubDomains"
    if preload:
        value += b"; preload"
    return value


class _AddHsts(ExchangeProxy):
    def __init__(self, inner: Exchange, value: bytes) -> None:
        super().__init__(inner)
        self._value = value

    def start(
        self, status: int, headers: Iterable[Sequence[bytes]], *, trailers: bool = False
    ) -> None:
        fields = [(name, value) for name, value in headers]
        if not any(name.lower() == _FIELD for name, _ in fields):
            fields.append((_FIELD, self._value))
        self.inner.start(status, fields, trailers=trailers)


class HstsFilter:
    """Adds ``Strict-Transport-Security`` to ``inner``'s https responses."""

    def __init__(
        self,
        inner: Handler,
        max_age: int = 31536000,
        *,
        include_subdomains: bool = True,
        preload: bool = False,
    ) -> None:
        self.inner = inner
        self.value = hsts_value(max_age, include_subdomains, preload)

    def handle(self, exchange: Exchange) -> None:
        if exchange.scheme == "https":
            exchange = _AddHsts(exchange, self.value).as_exchange()
        self.inner.handle(exchange)
