"""Choosing the route for a request: by host, then by the longest matching path prefix.

Routes are the edge's handlers (static files, a proxied upstream group, a redirect), each a
core ``Handler`` with a ``matches(path)`` test. The router is itself a ``Handler``: it finds
the route and hands the exchange over, or answers 404 when no route claims the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from frontdesk.edge.filters.respond import refuse
from frontdesk.http.exchange import Exchange

_NOT_FOUND = b"404 Not Found: no route for this request\n"


class Route(Protocol):
    def matches(self, path: bytes) -> bool: ...
    def handle(self, exchange: Exchange) -> None: ...


@dataclass(frozen=True, slots=True)
class Mount:
    """A route with where it applies: a path prefix and, optionally, host names."""

    prefix: bytes
    route: Route
    hosts: frozenset[bytes] = frozenset()  # lower-case, no port; empty: any host

    def accepts(self, host: bytes, path: bytes) -> bool:
        if self.hosts and host not in self.hosts and not self._wildcard(host):
            return False
        return path.startswith(self.prefix) and self.route.matches(path)

    def _wildcard(self, host: bytes) -> bool:
        # "*.example.com" covers "a.example.com" and "a.b.example.com", not "example.com".
        dot = host.find(b".")
        while dot != -1:
            if b"*" + host[dot:] in self.hosts:
                return True
            dot = host.find(b".", dot + 1)
        return False


def host_name(host: bytes) -> bytes:
    """The Host field without its port, lower-cased (IPv6 literals keep their brackets)."""
    host = host.lower()
    if host.startswith(b"["):
        end = host.find(b"]")
        return host[: end + 1] if end != -1 else host
    return host.partition(b":")[0]


class MethodGuard:
    """A route that answers only ``methods`` (nginx's ``limit_except``); 405 with Allow else.

    Allowing GET allows HEAD, as everywhere in HTTP (RFC 9110 9.3.2).
    """

    def __init__(self, route: Route, methods: Sequence[str]) -> None:
        allowed = [m.upper() for m in methods]
        if "GET" in allowed and "HEAD" not in allowed:
            allowed.insert(allowed.index("GET") + 1, "HEAD")
        self.route = route
        self.methods = frozenset(allowed)
        self.allow = ", ".join(dict.fromkeys(allowed)).encode("ascii")

    def matches(self, path: bytes) -> bool:
        return self.route.matches(path)

    def handle(self, exchange: Exchange) -> None:
        if exchange.request.method in self.methods:
            self.route.handle(exchange)
            return
        message = f"{exchange.request.method} is not allowed here"
        refuse(exchange, 405, message, [(b"allow", self.allow)])


class StatusRoute:
    """A path the edge answers itself, 200 ``ok``: for load balancers' and probes' checks.

    Answered before any filter would refuse the client (the router is inside the filters,
    but a probe from an allowed address is what orchestrators send), without app code.
    """

    def __init__(self, path: str) -> None:
        self.path = path.encode("latin-1")

    def matches(self, path: bytes) -> bool:
        return path == self.path

    def handle(self, exchange: Exchange) -> None:
        if exchange.request.method not in ("GET", "HEAD"):
            exchange.start(405, [(b"allow", b"GET, HEAD")])
            exchange.end()
            return
        exchange.start(200, [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")])
        exchange.end(b"ok\n")


class Router:
    """Dispatches each request to the first mount that accepts it, most specific first."""

    def __init__(self, mounts: Sequence[Mount]) -> None:
        # Host-specific mounts before catch-alls, then longer prefixes before shorter ones;
        # the sort is stable, so mounts of equal rank keep their configured order.
        self.mounts = sorted(mounts, key=lambda m: (not m.hosts, -len(m.prefix)))
        #: some mount is for named hosts only: the request's host name must be read
        self._by_host = any(mount.hosts for mount in self.mounts)

    def find(self, host: bytes, path: bytes) -> Route | None:
        if not self._by_host:
            # No mount names hosts (the usual site): ``Mount.accepts`` without its host
            # test, spelled out, as this runs for every request.
            for mount in self.mounts:
                if path.startswith(mount.prefix) and mount.route.matches(path):
                    return mount.route
            return None
        name = host_name(host)
        for mount in self.mounts:
            if mount.accepts(name, path):
                return mount.route
        return None

    def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        route = self.find(request.host, request.path)
        if route is None:
            exchange.start(404, [(b"content-type", b"text/plain; charset=utf-8")])
            exchange.end(_NOT_FOUND)
            return
        route.handle(exchange)
