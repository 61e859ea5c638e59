"""One edge site: its routes (static files, proxied upstream groups) behind its filters.

``EdgeSpec`` says what the site is, in plain data the settings produce; ``build_site`` turns it
into the core ``Handler`` the edge's HTTP server runs, plus what must be started and stopped
with it (active health checks, upstream pools, open-file caches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from frontdesk.edge.access import AccessLog
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
from frontdesk.edge.proxy.queue import SlotQueue
from frontdesk.edge.proxy.upstream import ServerParameters
from frontdesk.edge.router import MethodGuard, Mount, Route, Router, StatusRoute
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
    hosts: tuple[str, ...] = ()  # empty: any host
    methods: tuple[str, ...] = ()  # empty: the handler's own rules (GET and HEAD for files)


@dataclass(frozen=True, slots=True)
class ProxySpec:
    prefix: str
    servers: tuple[str, ...]
    balance: str = "round-robin"
    health_path: str | None = None  # active health checks on this path when set
    hosts: tuple[str, ...] = ()  # empty: any host
    #: the group's name; routes naming the same group share its servers, health and pools
    group: str = ""
    weights: tuple[int, ...] = ()  # one per server; empty: all 1
    hash_key: str = "client"
    max_fails: int = 1
    fail_timeout: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    send_timeout: float = 60.0
    max_tries: int = 0
    retry_timeout: float = 0.0
    retry_statuses: tuple[int, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)  # its path is health_path's
    request_buffering: bool | None = None  # None: the site's setting
    response_buffering: bool | None = None
    strip_prefix: bool = False
    methods: tuple[str, ...] = ()  # empty: any method


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
    #: a path the edge answers itself with 200 (probes of load balancers and orchestrators)
    status_path: str = ""
    #: Server-Timing on responses: the edge's own time, after the app server's spans
    server_timing: bool = True
    #: one access log line per request (``frontdesk.access``)
    access_log: bool = False


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
    what = f"upstream {spec.group}" if spec.group else f"proxy route {spec.prefix}"
    if not spec.servers:
        raise ConfigError(f"{what}: no upstream servers")
    weights = spec.weights or (1,) * len(spec.servers)
    try:
        parameters = [ServerParameters.parse(server) for server in spec.servers]
        servers = [
            Upstream(
                server.address,
                weight=weight,
                max_fails=spec.max_fails,
                fail_timeout=spec.fail_timeout,
                max_conns=server.max_conns,
                wsgi_only=server.wsgi_only,
            )
            for server, weight in zip(parameters, weights, strict=True)
        ]
        timeouts = [p.queue_timeout for p in parameters if p.queue_timeout is not None]
        queue = SlotQueue(
            timeout=min(timeouts, default=SlotQueue.DEFAULT_TIMEOUT),
            overflow=any(p.overflow for p in parameters),
        )
        balance = spec.balance
        if balance == "round-robin" and any(weight != 1 for weight in weights):
            balance = "weighted"  # as nginx's round-robin, weights given are weights used
        return UpstreamGroup(servers, balancer_named(balance, hash_key=spec.hash_key), queue=queue)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _hosts(hosts: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(host.lower().encode("idna") for host in hosts)


def build_site(spec: EdgeSpec) -> Site:
    if not spec.static and not spec.proxies:
        raise ConfigError("the edge has nothing to serve: give --static PREFIX=DIR or --proxy URL")
    trusted = TrustedProxies.from_setting(spec.trusted)
    mounts: list[Mount] = []
    site = Site(handler=Router([]))
    if spec.status_path:
        mounts.append(Mount(spec.status_path.encode("latin-1"), StatusRoute(spec.status_path)))
    for static in spec.static:
        files = StaticFiles(
            static.prefix,
            static.root,
            alias=static.alias,
            cache_control=static.cache_control,
            server_timing=spec.server_timing,
            trusted=trusted,
        )
        site.statics.append(files)
        route: Route = MethodGuard(files, static.methods) if static.methods else files
        mounts.append(Mount(static.prefix.encode("latin-1"), route, _hosts(static.hosts)))
    groups: dict[str, UpstreamGroup] = {}
    for proxy in spec.proxies:
        group = groups.get(proxy.group) if proxy.group else None
        if group is None:
            group = _group(proxy)
            if proxy.group:
                groups[proxy.group] = group
            if proxy.health_path:
                check = dataclasses.replace(proxy.health, path=proxy.health_path)
                site.checkers.append(HealthChecker(group, check))
        options = ProxyOptions(
            trusted=trusted,
            connect_timeout=proxy.connect_timeout,
            read_timeout=proxy.read_timeout,
            send_timeout=proxy.send_timeout,
            max_tries=proxy.max_tries,
            retry_timeout=proxy.retry_timeout,
            retry_statuses=frozenset(proxy.retry_statuses),
            request_buffering=(
                spec.request_buffering
                if proxy.request_buffering is None
                else proxy.request_buffering
            ),
            response_buffering=(
                spec.response_buffering
                if proxy.response_buffering is None
                else proxy.response_buffering
            ),
            strip_prefix=proxy.strip_prefix,
            server_timing=spec.server_timing,
        )
        proxied = ProxyRoute(proxy.prefix, group, options)
        site.routes.append(proxied)
        guarded = MethodGuard(proxied, proxy.methods) if proxy.methods else proxied
        prefix = proxy.prefix.rstrip("/").encode("latin-1")
        mounts.append(Mount(prefix, guarded, _hosts(proxy.hosts)))
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
    if spec.access_log:
        # Outermost: a request refused by any filter is logged too, with its status.
        handler = AccessLog(handler, trusted)
    site.handler = handler
    return site


def static_specs(items: Sequence[str]) -> tuple[StaticSpec, ...]:
    return tuple(parse_static(item) for item in items)
