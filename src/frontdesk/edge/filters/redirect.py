"""The plain-http listener's handler when the site lives on https: redirect every request.

The Location keeps the host the client asked for (without its port) and the request's path
and query as sent, on ``port`` (left out when it is 443). GET and HEAD get 301 (Moved
Permanently), which every client follows; other methods get 308 (Permanent Redirect), which
keeps the method and body, where 301 lets clients turn a POST into a GET. ``status`` fixes one
for all. A request without a Host (HTTP/1.0) is sent to ``default_host``, or the address the
client reached, and answered 400 when there is neither.
"""

from __future__ import annotations

from frontdesk.edge.filters.respond import TEXT_PLAIN, refuse
from frontdesk.errors import ClientDisconnected, ConfigError
from frontdesk.http.exchange import Exchange


def _host_only(host: bytes) -> bytes:
    """The Host field without a port; IPv6 literals keep their brackets."""
    if host.startswith(b"["):
        return host[: host.find(b"]") + 1]
    return host.partition(b":")[0]


class HttpsRedirect:
    """Answers every request with a permanent redirect to the same URL on https."""

    def __init__(
        self, port: int = 443, *, status: int | None = None, default_host: str | None = None
    ) -> None:
        if not 0 < port < 65536:
            raise ConfigError(f"https port must be 1-65535, not {port}")
        if status not in (None, 301, 302, 307, 308):
            raise ConfigError(f"a redirect status is 301, 302, 307 or 308, not {status}")
        self.port = port
        self.status = status
        self.default_host = default_host.encode("idna") if default_host else None

    def location(self, exchange: Exchange) -> bytes | None:
        request = exchange.request
        host = _host_only(request.host) or self.default_host
        if not host and exchange.server is not None and exchange.server[1] is not None:
            address = exchange.server[0].encode("ascii")
            host = b"[" + address + b"]" if b":" in address else address
        if not host:
            return None
        port = b"" if self.port == 443 else b":%d" % self.port
        path = request.path if request.path.startswith(b"/") else b"/"
        query = b"?" + request.query if request.query else b""
        return b"https://" + host + port + path + query

    def handle(self, exchange: Exchange) -> None:
        location = self.location(exchange)
        if location is None:
            refuse(exchange, 400, "no Host to redirect to")
            return
        status = self.status
        if status is None:
            status = 301 if exchange.request.method in ("GET", "HEAD") else 308
        body = b"Redirecting to " + location + b"\n"
        try:
            exchange.start(status, [(b"location", location), TEXT_PLAIN])
            exchange.end(body)
        except ClientDisconnected:
            pass
