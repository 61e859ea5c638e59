"""``frontdesk serve APP``: one process running an ASGI app on the HTTP core.

Order of a run: import the app (a failure is a one-line error), bind the sockets, run the
app's lifespan startup, then accept; on SIGTERM or SIGINT (or after ``limit_max_requests``)
stop accepting, let in-flight requests finish for up to ``graceful_timeout``, close
WebSockets with 1012, run lifespan shutdown, and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from frontdesk.config.model import Config
from frontdesk.errors import AppLoadError
from frontdesk.http import HttpLimits, HttpServer
from frontdesk.interfaces.asgi import ASGIHandler, Lifespan
from frontdesk.interfaces.asgi.types import ASGIApp
from frontdesk.interfaces.asgi.websocket import WebSocketOptions
from frontdesk.interfaces.detect import Interface, as_asgi3, detect
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.loops import loop_factory
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import bind_socket, sock_url

from .loader import import_app

log = logging.getLogger("frontdesk.serve")

def load_asgi_app(app_path: str, config: Config) -> ASGIApp:
    app = import_app(app_path, app_dir=config.app_dir, factory=config.factory)
    if config.interface != "auto":
        interface: Interface = config.interface  # type: ignore[assignment]
    else:
        try:
            interface = detect(app)
        except TypeError as exc:
            raise AppLoadError(f"{app_path} is not an application: {exc}") from None
    if interface == "wsgi":
        raise AppLoadError(
            f"{app_path} is a WSGI application; this version of frontdesk serves ASGI apps"
        )
    return as_asgi3(app, interface)


def run(config: Config, app: str) -> int:
    setup_logging(config.log_level)
    asgi_app = load_asgi_app(app, config)
    sockets = [
        bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode)
        for address in config.bind_addresses
    ]
    try:
        with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
            return runner.run(_serve(asgi_app, sockets, config))
    finally:
        for sock in sockets:
            sock.close()


async def _serve(app: ASGIApp, sockets: list[socket.socket], config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    lifespan = Lifespan(app, mode=config.lifespan)
    await lifespan.startup()
    handler = ASGIHandler(
        app,
        root_path=config.root_path,
        state=lifespan.state,
        websocket=websocket_options(config),
        trusted_proxies=(
            TrustedProxies.from_setting(config.forwarded_allow_ips)
            if config.proxy_headers
            else None
        ),
        limit_concurrency=config.limit_concurrency,
        limit_max_requests=config.limit_max_requests,
        on_max_requests=stop.set,
    )
    server = HttpServer(handler, HttpLimits.from_config(config), backlog=config.backlog)
    await server.start(sockets)
    for sock in sockets:
        log.info("listening on %s", sock_url(sock))
    await stop.wait()
    timeout = config.graceful_timeout
    log.info("shutting down: finishing in-flight requests (up to %.0f s)", timeout)
    await server.shutdown(timeout)
    await lifespan.shutdown(timeout)
    return 0


def websocket_options(config: Config) -> WebSocketOptions | None:
    if config.ws == "none":
        return None
    return WebSocketOptions(
        max_size=config.ws_max_size,
        max_queue=config.ws_max_queue,
        ping_interval=config.ws_ping_interval,
        ping_timeout=config.ws_ping_timeout,
        per_message_deflate=config.ws_per_message_deflate,
    )
