"""``frontdesk edge``: one process serving the edge site on its listeners.

Bind, build the site from the settings (a bad route or certificate is a one-line error before
anything listens), accept; on SIGTERM or SIGINT stop accepting and let in-flight requests
finish for up to ``graceful_timeout``. The edge runs no app code.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl

from frontdesk.appserver.memory import freeze_startup_objects
from frontdesk.config.model import Config
from frontdesk.edge.site import EdgeSpec, ProxySpec, Site, build_site, static_specs
from frontdesk.edge.tls import build_context, self_signed_context
from frontdesk.errors import ConfigError
from frontdesk.http import HttpLimits, HttpServer
from frontdesk.loops import loop_factory
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import bind_socket, sock_url

log = logging.getLogger("frontdesk.edge")


def edge_spec(config: Config) -> EdgeSpec:
    proxies: tuple[ProxySpec, ...] = ()
    if config.proxy:
        proxies = (
            ProxySpec(
                "/",
                config.proxy,
                balance=config.balance,
                health_path=config.health_path or None,
            ),
        )
    access = tuple(("deny", net) for net in config.deny)
    if config.allow:
        access += (*(("allow", net) for net in config.allow), ("deny", "all"))
    return EdgeSpec(
        static=static_specs(config.static),
        proxies=proxies,
        trusted=config.forwarded_allow_ips,
        access=access,
        rate=config.rate_limit,
        burst=config.rate_burst,
        connections_per_client=config.conn_limit,
        compress=config.compress,
        hsts=config.hsts,
    )


def tls_context(config: Config) -> ssl.SSLContext | None:
    if config.self_signed:
        return self_signed_context()
    if config.certfile or config.keyfile:
        if not (config.certfile and config.keyfile):
            raise ConfigError("TLS needs both --certfile and --keyfile")
        return build_context([(config.certfile, config.keyfile)])
    return None


def run(config: Config) -> int:
    setup_logging(config.log_level)
    spec = edge_spec(config)
    context = tls_context(config)
    site = build_site(spec)
    sockets = [
        bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode)
        for address in config.bind_addresses
    ]
    try:
        with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
            return runner.run(_serve(site, sockets, context, config))
    finally:
        for sock in sockets:
            sock.close()


async def _serve(
    site: Site, sockets: list[socket.socket], context: ssl.SSLContext | None, config: Config
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = HttpServer(site.handler, HttpLimits.from_config(config), backlog=config.backlog)
    await server.start(sockets, ssl=context)
    site.start()
    freeze_startup_objects()
    scheme = "https" if context is not None else "http"
    for sock in sockets:
        url = sock_url(sock)
        log.info("listening on %s", url.replace("http://", f"{scheme}://", 1))
    await stop.wait()
    timeout = config.graceful_timeout
    log.info("shutting down: finishing in-flight requests (up to %.0f s)", timeout)
    await server.shutdown(timeout)
    await site.close()
    return 0
