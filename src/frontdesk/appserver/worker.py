"""An app worker: one forked process serving the app on the arbiter's sockets.

Its life: switch user (``--user``), load the app (unless the arbiter preloaded it), run the
same server as ``frontdesk serve`` without workers (``serve.serve_sockets``), wired by
``WorkerHooks`` to the arbiter instead of to a terminal:

- its event loop ticks the heartbeat (``heartbeat.py``); a blocked loop stops ticking, and
  the arbiter aborts it with SIGABRT, which dumps every thread's stack to stderr here;
- it says when it is ready, and when it reaches ``limit_max_requests`` it asks to be replaced
  and keeps serving until the arbiter, its replacement ready, tells it to stop;
- TERM or INT: stop accepting and drain (``HttpServer.shutdown(hold_idle=True)``);
  QUIT: exit at once;
- a failure to boot (the app does not import, lifespan startup fails) is written to the slot
  in one line and the worker exits with status 3, saying nothing itself: the arbiter decides
  what to make of it (at start-up it stops with that line).
"""

from __future__ import annotations

import asyncio
import dataclasses
import faulthandler
import logging
import os
import random
import resource
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from frontdesk.config.model import Config
from frontdesk.errors import AppLoadError
from frontdesk.http import Handler, HttpServer
from frontdesk.interfaces.admission import Admission
from frontdesk.interfaces.detect import Interface

from .heartbeat import Heartbeat
from .hooks import ServeHooks
from .logfile import reopen_log_files
from .privileges import Identity
from .process import WorkerContext
from .proctitle import set_title
from .serve import load_app, serve_sockets

__all__ = ["AppWorker", "WorkerHooks"]

log = logging.getLogger("frontdesk.worker")


class WorkerHooks(ServeHooks):
    """A worker of the arbiter: heartbeat, readiness, recycling and signals go to it."""

    def __init__(self, ctx: WorkerContext, heartbeat: Heartbeat) -> None:
        self.ctx = ctx
        self.heartbeat = heartbeat
        self.ready = False

    def on_loop(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def graceful() -> None:
            self.ctx.draining()
            stop.set()

        loop.add_signal_handler(signal.SIGTERM, graceful)

        def orphaned() -> None:
            log.warning("worker %d: its arbiter is gone; stopping gracefully", os.getpid())
            stop.set()

        self.heartbeat.on_orphaned = orphaned
        # Ctrl-C reaches the whole foreground process group; the arbiter turns it into TERMs
        # in stop-tier order (the edge before the app workers behind it), so a worker leaves
        # SIGINT to its arbiter instead of stopping on its own at the same instant.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        loop.add_signal_handler(signal.SIGQUIT, _exit_now)
        loop.add_signal_handler(signal.SIGUSR1, reopen_log_files)
        # The heartbeat starts with the loop: lifespan startup runs on it, so a startup that
        # blocks the loop is a timeout like any other.
        self.heartbeat.start(loop)
        return stop

    def on_max_requests(self, stop: asyncio.Event) -> Callable[[], None]:
        def retire() -> None:
            log.info("worker %d reached its request limit; asking for a replacement", os.getpid())
            self.ctx.retire()

        return retire

    hold_idle_on_stop = True  # siblings go on serving: lose no request racing the close

    def on_serving(
        self, server: HttpServer, sockets: Sequence[socket.socket], handler: Handler
    ) -> None:
        admission = getattr(handler, "admission", None)
        if isinstance(admission, Admission):  # the ASGI and WSGI handlers count requests there
            self.heartbeat.count(lambda: admission.requests)
        self.heartbeat.slot.beat()
        self.ready = True
        self.ctx.ready()


def _exit_now() -> None:
    """QUIT: a fast stop. Connections are reset by the kernel as the process goes."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def prepare_worker_process(
    ctx: WorkerContext, role: str, name: str, identity: Identity | None
) -> int | None:
    """What every forked worker does first; an exit status if it cannot go on, else None."""
    set_title(role, name)
    # A wedged worker is aborted (SIGABRT): faulthandler dumps where each thread is, and
    # the process ends. That dump is the diagnosis, so no core file is written as well.
    faulthandler.enable(all_threads=True)
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)  # the arbiter's signals, not a worker's
    if identity is not None:
        try:
            identity.switch()
        except OSError as exc:
            return ctx.boot_failed(f"cannot switch the worker's user or group: {exc}")
    return None


@dataclasses.dataclass(frozen=True)
class AppWorker:
    """What an app worker runs: ``WorkerSpec.run`` of the app server's pool."""

    config: Config
    app_path: str
    sockets: tuple[socket.socket, ...]
    identity: Identity | None = None
    preloaded: tuple[Interface, Any] | None = None

    def __call__(self, ctx: WorkerContext) -> int:
        failed = prepare_worker_process(ctx, "worker", self.app_path, self.identity)
        if failed is not None:
            return failed
        config = self.config
        if config.limit_max_requests and config.max_requests_jitter:
            limit = config.limit_max_requests + random.randint(0, config.max_requests_jitter)
            config = dataclasses.replace(config, limit_max_requests=limit)
        try:
            interface, app = self.preloaded or load_app(self.app_path, config)
        except AppLoadError as exc:
            _debug_traceback(config)
            return ctx.boot_failed(str(exc))
        hooks = WorkerHooks(ctx, ctx.heartbeat(config.timeout))
        try:
            return serve_sockets(
                config,
                interface,
                app,
                self.sockets,
                hooks,
                app_name=self.app_path,
                worker=f"{ctx.pool}#{ctx.generation}",
            )
        except AppLoadError as exc:
            if hooks.ready:
                raise
            _debug_traceback(config)
            return ctx.boot_failed(str(exc))
        finally:
            hooks.heartbeat.last()


def _debug_traceback(config: Config) -> None:
    if config.log_level == "debug":
        log.debug("worker %d failed to boot", os.getpid(), exc_info=True)
