"""``frontdesk edge``: one process serving the edge site on its listeners.

Bind, build the site from the settings (a bad route or certificate is a one-line error before
anything listens), accept; on SIGTERM or SIGINT stop accepting and let in-flight requests
finish for up to ``graceful_timeout``. The edge runs no app code.

With ``--workers N`` the same serving loop (``serve_site``) runs in N workers of the arbiter
instead (``program.py``); ``ServeHooks`` are what differ between the two.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import socket
import ssl
from collections.abc import Sequence

from frontdesk.appserver.hooks import ServeHooks
from frontdesk.appserver.memory import freeze_startup_objects
from frontdesk.config.bind import BindAddress, parse_bind
from frontdesk.config.layout import ServerEntry, UpstreamEntry
from frontdesk.config.model import Config
from frontdesk.edge.filters.redirect import HttpsRedirect
from frontdesk.edge.proxy import HealthCheck
from frontdesk.edge.site import (
    EdgeSpec,
    ProxySpec,
    Site,
    StaticSpec,
    build_site,
    static_specs,
)
from frontdesk.edge.tls import build_context, self_signed_context
from frontdesk.errors import ConfigError
from frontdesk.http import Handler, HttpLimits, HttpServer
from frontdesk.loops import loop_factory
from frontdesk.observe.access import enable_access_log
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import bind_socket, sock_url

__all__ = [
    "edge_spec",
    "listening_url",
    "redirect_addresses",
    "redirect_url",
    "run",
    "serve_site",
    "tls_context",
    "validate",
]

log = logging.getLogger("frontdesk.edge")


def edge_spec(config: Config) -> EdgeSpec:
    """The site the settings and the config file's ``[[upstreams]]`` and routes describe."""
    proxies: list[ProxySpec] = []
    if config.proxy:
        proxies.append(
            ProxySpec(
                "/",
                config.proxy,
                balance=config.balance,
                health_path=config.health_path or None,
            )
        )
    statics = list(static_specs(config.static))
    layout = config.layout
    if layout.apps:
        raise ConfigError(
            f"{layout.apps[0].where}: [[apps]] are run by 'frontdesk run'; 'frontdesk edge' "
            "only proxies: name the app's server in [[upstreams]]"
        )
    upstreams = {u.name: u for u in layout.upstreams}
    for route in layout.all_routes():
        if route.static is not None:
            statics.append(
                StaticSpec(
                    route.prefix,
                    route.static,
                    alias=route.alias,
                    cache_control=route.cache_control or None,
                    hosts=route.hosts,
                    methods=route.methods,
                )
            )
        elif route.upstream is not None:
            upstream = upstreams[route.upstream]
            spec = _proxy_spec(route.prefix, route.hosts, upstream)
            proxies.append(dataclasses.replace(spec, methods=route.methods))
    access = tuple(("deny", net) for net in config.deny)
    if config.allow:
        access += (*(("allow", net) for net in config.allow), ("deny", "all"))
    return EdgeSpec(
        static=tuple(statics),
        proxies=tuple(proxies),
        status_path=config.status_path,
        server_timing=config.server_timing,
        access_log=config.access_log,
        trusted=config.forwarded_allow_ips,
        access=access,
        rate=config.rate_limit,
        burst=config.rate_burst,
        connections_per_client=config.conn_limit,
        compress=config.compress,
        hsts=config.hsts,
    )


def _proxy_spec(prefix: str, hosts: tuple[str, ...], upstream: UpstreamEntry) -> ProxySpec:
    return ProxySpec(
        prefix,
        tuple(_server_text(server, upstream.queue_timeout) for server in upstream.servers),
        balance=upstream.balance,
        health_path=upstream.health_path or None,
        hosts=hosts,
        group=upstream.name,
        weights=tuple(server.weight for server in upstream.servers),
        hash_key=upstream.hash_key,
        max_fails=upstream.max_fails,
        fail_timeout=upstream.fail_timeout,
        connect_timeout=upstream.connect_timeout,
        read_timeout=upstream.read_timeout,
        send_timeout=upstream.send_timeout,
        max_tries=upstream.max_tries,
        retry_timeout=upstream.retry_timeout,
        retry_statuses=upstream.retry_statuses,
        health=HealthCheck(
            interval=upstream.health_interval,
            timeout=upstream.health_timeout,
            rise=upstream.health_rise,
            fall=upstream.health_fall,
        ),
        request_buffering=upstream.request_buffering,
        response_buffering=upstream.response_buffering,
        strip_prefix=upstream.strip_prefix,
    )


def _server_text(server: ServerEntry, queue_timeout: float) -> str:
    """A server as the proxy takes it: the address, with nginx-style parameters after it."""
    if not server.max_conns:
        return server.address
    return f"{server.address} max_conns={server.max_conns} queue_timeout={queue_timeout}"


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The edge's TLS context: ``certfile``/``keyfile`` first (the default certificate), then
    the file's ``[[edge.certificates]]``, each chosen by the name the client asks for (SNI)."""
    if config.self_signed:
        return self_signed_context()
    pairs: list[tuple[str, str]] = []
    if config.certfile or config.keyfile:
        if not (config.certfile and config.keyfile):
            raise ConfigError("TLS needs both --certfile and --keyfile")
        pairs.append((config.certfile, config.keyfile))
    pairs += [(cert.certfile, cert.keyfile) for cert in config.layout.certificates]
    return build_context(pairs) if pairs else None


def validate(config: Config) -> bool:
    """Build the site and the TLS context once and drop them: ConfigError if either is bad.

    The arbiter calls this before it forks, so that a bad route or certificate refuses a
    start or a reload in one line instead of failing in every worker. Building touches no
    event loop; the only thing it may hold is the static open-file caches, closed here.
    Returns whether the edge speaks TLS.
    """
    context = tls_context(config)
    if config.redirect_http and context is None:
        raise ConfigError(
            "redirect_http needs TLS on --bind: give --certfile and --keyfile (or --self-signed)"
        )
    site = build_site(edge_spec(config))
    for files in site.statics:
        files.close()
    return context is not None


def listening_url(sock: socket.socket, tls: bool) -> str:
    url = sock_url(sock)
    return url.replace("http://", "https://", 1) if tls else url


def run(config: Config) -> int:
    setup_logging(config.log_level)
    validate(config)
    spec = edge_spec(config)
    context = tls_context(config)
    site = build_site(spec)
    sockets: list[socket.socket] = []
    redirects: list[socket.socket] = []
    try:
        for address in config.bind_addresses:
            sockets.append(bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode))
        for address in redirect_addresses(config):
            redirects.append(
                bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode)
            )
        hooks = _StandaloneHooks(context is not None, redirects)
        return serve_site(config, site, sockets, context, hooks, redirects)
    finally:
        for sock in sockets + redirects:
            sock.close()


def redirect_addresses(config: Config) -> tuple[BindAddress, ...]:
    return tuple(parse_bind(text) for text in config.redirect_http)


def https_port(sockets: Sequence[socket.socket]) -> int:
    """The port redirects send clients to: the first TCP listener's (443 if none)."""
    for sock in sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            port: int = sock.getsockname()[1]
            return port
    return 443


def serve_site(
    config: Config,
    site: Site,
    sockets: Sequence[socket.socket],
    context: ssl.SSLContext | None,
    hooks: ServeHooks,
    redirects: Sequence[socket.socket] = (),
) -> int:
    """Serve a built site on bound sockets until ``hooks`` say stop; edge workers run this too.

    ``redirects`` are plain-HTTP listeners answering every request with a redirect to the
    site's https URL (``redirect_http``).
    """
    if config.access_log:
        enable_access_log()
    with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
        return runner.run(_serve(site, sockets, context, config, hooks, redirects))


class _StandaloneHooks(ServeHooks):
    """The single-process edge: as ``serve``'s, but its URLs say https when it speaks TLS."""

    def __init__(self, tls: bool, redirects: Sequence[socket.socket] = ()) -> None:
        self.tls = tls
        self.redirects = redirects

    def on_serving(
        self, server: HttpServer, sockets: Sequence[socket.socket], handler: Handler
    ) -> None:
        for sock in sockets:
            log.info("listening on %s", listening_url(sock, self.tls))
        for sock in self.redirects:
            log.info("listening on %s", redirect_url(sock))


def redirect_url(sock: socket.socket) -> str:
    return f"{sock_url(sock)} (redirects to https)"


async def _serve(
    site: Site,
    sockets: Sequence[socket.socket],
    context: ssl.SSLContext | None,
    config: Config,
    hooks: ServeHooks,
    redirects: Sequence[socket.socket] = (),
) -> int:
    stop = hooks.on_loop()
    limits = HttpLimits.from_config(config)
    server = HttpServer(site.handler, limits, backlog=config.backlog)
    await server.start(sockets, ssl=context)
    redirector: HttpServer | None = None
    if redirects:
        redirector = HttpServer(HttpsRedirect(https_port(sockets)), limits, backlog=config.backlog)
        await redirector.start(redirects)
    site.start()
    freeze_startup_objects()
    # Requests allocate and free many small containers, nearly all freed by reference
    # counting: a young generation of 700 objects is collected every few requests for
    # nothing. Collected every 50,000 allocations instead (what startup left is frozen).
    gc.set_threshold(50_000, 20, 100)
    hooks.on_serving(server, sockets, site.handler)
    await stop.wait()
    timeout = config.graceful_timeout
    log.info("shutting down: finishing in-flight requests (up to %.0f s)", timeout)
    if redirector is not None:
        redirector.stop_accepting()
    await server.shutdown(timeout, hold_idle=hooks.hold_idle_on_stop)
    if redirector is not None:
        await redirector.shutdown(1.0)
    await site.close()
    return 0
