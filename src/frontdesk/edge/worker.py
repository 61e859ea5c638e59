"""An edge worker: one forked process serving the edge site on the arbiter's sockets.

Its life: switch user (``--user``), build its own site and TLS context from the config it was
handed (upstream pools, health checks and open-file caches belong to one event loop, and a
TLS context is not shared across a fork), then run the single-process edge's loop
(``run.serve_site``) wired to the arbiter by the app server's ``WorkerHooks``: heartbeat from
the loop, readiness, TERM/INT drain, QUIT exits at once. A config that fails here (the
arbiter validated it, but a file may have changed since) is a one-line boot failure.
"""

from __future__ import annotations

import dataclasses
import socket

from frontdesk.appserver.privileges import Identity
from frontdesk.appserver.process import WorkerContext
from frontdesk.appserver.worker import WorkerHooks, prepare_worker_process
from frontdesk.config.model import Config
from frontdesk.errors import ConfigError
from frontdesk.http import Exchange, Handler

from .run import edge_spec, serve_site, tls_context
from .site import build_site

__all__ = ["EdgeWorker"]


@dataclasses.dataclass(frozen=True)
class EdgeWorker:
    """What an edge worker runs: ``WorkerSpec.run`` of the edge's pool."""

    config: Config
    name: str
    sockets: tuple[socket.socket, ...]
    identity: Identity | None = None
    redirects: tuple[socket.socket, ...] = ()

    def __call__(self, ctx: WorkerContext) -> int:
        failed = prepare_worker_process(ctx, "edge worker", self.name, self.identity)
        if failed is not None:
            return failed
        config = self.config
        try:
            context = tls_context(config)
            site = build_site(edge_spec(config))
        except ConfigError as exc:
            return ctx.boot_failed(str(exc))
        hooks = WorkerHooks(ctx, ctx.heartbeat(config.timeout))
        counted = _Counted(site.handler)
        site.handler = counted
        hooks.heartbeat.count(lambda: counted.requests)  # for ``ctl status`` and exit logs
        try:
            return serve_site(config, site, self.sockets, context, hooks, self.redirects)
        finally:
            hooks.heartbeat.last()


class _Counted:
    """The site's handler, counting the requests it is handed."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner
        self.requests = 0

    def handle(self, exchange: Exchange) -> None:
        self.requests += 1
        self.inner.handle(exchange)
