"""``frontdesk serve APP``: one process running an ASGI or WSGI app on the HTTP core.

Order of a run: import the app (a failure is a one-line error), bind the sockets, run the
app's lifespan startup, then accept; on SIGTERM or SIGINT (or after ``limit_max_requests``)
stop accepting, let in-flight requests finish for up to ``graceful_timeout``, close
WebSockets with 1012, run lifespan shutdown, and exit 0. A WSGI app has no lifespan; it is
called inline on the loop's thread (``threads`` 1) or by a pool of ``threads`` threads.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Sequence
from typing import Any

from frontdesk.config.model import Config
from frontdesk.errors import AppLoadError
from frontdesk.http import Handler, HttpLimits, HttpServer
from frontdesk.interfaces.asgi import ASGIHandler, Lifespan
from frontdesk.interfaces.asgi.types import ASGIApp
from frontdesk.interfaces.asgi.websocket import WebSocketOptions
from frontdesk.interfaces.detect import Interface, as_asgi3, detect
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.interfaces.wsgi import WSGIHandler
from frontdesk.interfaces.wsgi.types import WSGIApp
from frontdesk.loops import loop_factory
from frontdesk.observe.access import enable_access_log
from frontdesk.observe.journey import Journey
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import bind_socket

from .hooks import ServeHooks
from .loader import import_app
from .memory import freeze_startup_objects

log = logging.getLogger("frontdesk.serve")


def load_app(app_path: str, config: Config) -> tuple[Interface, Any]:
    """The app and the contract it speaks (``--interface``, or detected)."""
    app = import_app(app_path, app_dir=config.app_dir, factory=config.factory)
    if config.interface != "auto":
        interface: Interface = config.interface  # type: ignore[assignment]
    else:
        try:
            interface = detect(app)
        except TypeError as exc:
            raise AppLoadError(f"{app_path} is not an application: {exc}") from None
    return interface, app


def run(config: Config, app: str) -> int:
    setup_logging(config.log_level)
    interface, loaded = load_app(app, config)
    sockets = [
        bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode)
        for address in config.bind_addresses
    ]
    try:
        return serve_sockets(config, interface, loaded, sockets, app_name=app)
    finally:
        for sock in sockets:
            sock.close()


def serve_sockets(
    config: Config,
    interface: Interface,
    app: Any,
    sockets: Sequence[socket.socket],
    hooks: ServeHooks | None = None,
    *,
    app_name: str | None = None,
    worker: str | None = None,
) -> int:
    """Serve a loaded app on bound sockets until stopped; the arbiter's workers run this too.

    ``app_name`` (the app's ``module:attr``) and ``worker`` (the worker's name) are what a
    traced request's ``Frontdesk-Trace`` field reports of this process.
    """
    hooks = hooks or ServeHooks()
    trusted = _trusted_proxies(config)
    journey = Journey(
        trusted or TrustedProxies.from_setting(config.forwarded_allow_ips),
        interface="wsgi" if interface == "wsgi" else "asgi",
        access=config.access_log,
        app=app_name,
        worker=worker,
    )
    if config.access_log:
        enable_access_log()
    with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
        if interface == "wsgi":
            return runner.run(_serve_wsgi(app, sockets, config, hooks, trusted, journey))
        asgi = as_asgi3(app, interface)
        return runner.run(_serve(asgi, sockets, config, hooks, trusted, journey))


async def _serve(
    app: ASGIApp,
    sockets: Sequence[socket.socket],
    config: Config,
    hooks: ServeHooks,
    trusted: TrustedProxies | None,
    journey: Journey,
) -> int:
    stop = hooks.on_loop()
    lifespan = Lifespan(app, mode=config.lifespan)
    await lifespan.startup()
    handler = ASGIHandler(
        app,
        root_path=config.root_path,
        state=lifespan.state,
        websocket=websocket_options(config),
        trusted_proxies=trusted,
        limit_concurrency=config.limit_concurrency,
        limit_max_requests=config.limit_max_requests,
        on_max_requests=hooks.on_max_requests(stop),
        journey=journey,
    )
    await _run_server(handler, sockets, config, stop, hooks)
    await lifespan.shutdown(config.graceful_timeout)
    return 0


async def _serve_wsgi(
    app: WSGIApp,
    sockets: Sequence[socket.socket],
    config: Config,
    hooks: ServeHooks,
    trusted: TrustedProxies | None,
    journey: Journey,
) -> int:
    """A WSGI app: no lifespan; ``threads`` picks inline calls (1) or a thread pool."""
    stop = hooks.on_loop()
    handler = WSGIHandler(
        app,
        threads=config.threads,
        root_path=config.root_path,
        trusted_proxies=trusted,
        limit_concurrency=config.limit_concurrency,
        limit_max_requests=config.limit_max_requests,
        on_max_requests=hooks.on_max_requests(stop),
        write_window=config.write_buffer_high,
        journey=journey,
    )
    try:
        await _run_server(handler, sockets, config, stop, hooks)
        await handler.shutdown(config.graceful_timeout)
    finally:
        handler.close()
    return 0


def _trusted_proxies(config: Config) -> TrustedProxies | None:
    if not config.proxy_headers:
        return None
    return TrustedProxies.from_setting(config.forwarded_allow_ips)


async def _run_server(
    handler: Handler,
    sockets: Sequence[socket.socket],
    config: Config,
    stop: asyncio.Event,
    hooks: ServeHooks,
) -> None:
    """Accept until ``stop`` is set, then finish in-flight requests (``graceful_timeout``)."""
    server = HttpServer(handler, HttpLimits.from_config(config), backlog=config.backlog)
    await server.start(sockets)
    freeze_startup_objects()  # the app has started: keep it out of the collector's walks
    # Requests allocate and free many small containers, nearly all freed by reference
    # counting: a young generation of 700 objects is collected every few requests for
    # nothing. Collected every 50,000 allocations instead.
    gc.set_threshold(50_000, 20, 100)
    hooks.on_serving(server, sockets, handler)
    await stop.wait()
    timeout = config.graceful_timeout
    log.info("shutting down: finishing in-flight requests (up to %.0f s)", timeout)
    await server.shutdown(timeout, hold_idle=hooks.hold_idle_on_stop)


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
