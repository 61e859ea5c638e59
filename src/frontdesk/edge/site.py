"""One edge site: its routes (static files, proxied upstream groups) behind its filters.

``EdgeSpec`` says what the site is, in plain data the settings produce; ``build_site`` turns it
into the core ``Handler`` the edge's HTTP server runs, plus what must be started and stopped
with it (active health checks, upstream pools, open-file caches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from frontdesk.edge.filters import (
    AccessFilter,
    CompressionFilter,
    ConnectionLimitFilter,
    HstsFilter,
    RateLimitFilter,
)
from frontdesk.edge.proxy import (
    HealthCheck,
    HealthChecker,
    ProxyOptions,
    ProxyRoute,
    Upstream,
    UpstreamGroup,
    balancer_named,
)
from frontdesk.edge.router import Mount, Router
from frontdesk.edge.static import StaticFiles
from frontdesk.errors import ConfigError
from frontdesk.http.connection import Handler
from frontdesk.interfaces.proxy import TrustedProxies


@dataclass(frozen=True, slots=True)
class StaticSpec:
    prefix: str
    root: str
    #: True: the prefix is replaced by ``root`` (nginx ``alias``), as ``--static`` means it;
    #: False: the whole URL path is looked up under ``root`` (nginx ``root``)
    alias: bool = True
    cache_control: str | None = None


@dataclass(frozen=True, slots=True)
class ProxySpec:
    prefix: str
    servers: tuple[str, ...]
    balance: str = "round-robin"
    health_path: str | None = None  # active health checks on this path when set


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    static: tuple[StaticSpec, ...] = ()
    proxies: tuple[ProxySpec, ...] = ()
    trusted: tuple[str, ...] = ("127.0.0.1", "::1")
    access: tuple[tuple[str, str], ...] = ()  # ("allow"|"deny", cidr|"all")
    rate: float = 0.0  # requests a second per client; 0: no limit
    burst: int = 1
    connections_per_client: int = 0  # 0: no limit
    compress: bool = True
    hsts: int = 0  # max-age in seconds; 0: no header
    request_buffering: bool = True
    response_buffering: bool = True


def parse_static(text: str) -> StaticSpec:
    """``PREFIX=DIR`` as given to ``--static``: files under DIR answer URLs under PREFIX."""
    prefix, sep, root = text.partition("=")
    if not sep or not prefix.startswith("/") or not root:
        raise ConfigError(f"--static {text!r}: expected PREFIX=DIR, e.g. /static/=./static")
    if not prefix.endswith("/"):
        prefix += "/"
    return StaticSpec(prefix, root)


@dataclass
class Site:
    """The built handler and the parts with a lifetime of their own."""

    handler: Handler
    checkers: list[HealthChecker] = field(default_factory=list)
    routes: list[ProxyRoute] = field(default_factory=list)
    statics: list[StaticFiles] = field(default_factory=list)

    def start(self) -> None:
        for checker in self.checkers:
            checker.start()

    async def close(self) -> None:
        for checker in self.checkers:
            await checker.stop()
        for route in self.routes:
            await route.close()
        for files in self.statics:
            files.close()


def _group(spec: ProxySpec) -> UpstreamGroup:
    if not spec.servers:
        raise ConfigError(f"proxy route {spec.prefix}: no upstream servers")
    try:
        servers = [Upstream(address) for address in spec.servers]
        return UpstreamGroup(servers, balancer_named(spec.balance))
    except ValueError as exc:
        raise ConfigError(f"proxy route {spec.prefix}: {exc}") from None


def build_site(spec: EdgeSpec) -> Site:
    if not spec.static and not spec.proxies:
        raise ConfigError("the edge has nothing to serve: give --static PREFIX=DIR or --proxy URL")
    trusted = TrustedProxies.from_setting(spec.trusted)
    mounts: list[Mount] = []
    site = Site(handler=Router([]))
    for static in spec.static:
        files = StaticFiles(
            static.prefix, static.root, alias=static.alias, cache_control=static.cache_control
        )
        site.statics.append(files)
        mounts.append(Mount(static.prefix.encode("latin-1"), files))
    for proxy in spec.proxies:
        group = _group(proxy)
        options = ProxyOptions(
            trusted=trusted,
            request_buffering=spec.request_buffering,
            response_buffering=spec.response_buffering,
        )
        route = ProxyRoute(proxy.prefix, group, options)
        site.routes.append(route)
        if proxy.health_path:
            site.checkers.append(HealthChecker(group, HealthCheck(path=proxy.health_path)))
        mounts.append(Mount(proxy.prefix.rstrip("/").encode("latin-1"), route))
    handler: Handler = Router(mounts)
    # Outermost first, as nginx's phases run: access, rate, connections, then the response
    # filters nearest the routes.
    if spec.hsts:
        handler = HstsFilter(handler, spec.hsts)
    if spec.compress:
        handler = CompressionFilter(handler)
    if spec.connections_per_client:
        handler = ConnectionLimitFilter(handler, spec.connections_per_client)
    if spec.rate:
        handler = RateLimitFilter(handler, spec.rate, max(spec.burst, 1))
    if spec.access:
        handler = AccessFilter(handler, spec.access)
    site.handler = handler
    return site


def static_specs(items: Sequence[str]) -> tuple[StaticSpec, ...]:
    return tuple(parse_static(item) for item in items)
