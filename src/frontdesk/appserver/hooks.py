"""How a serving process is wired to whatever runs it: ``ServeHooks``.

``serve.py`` runs the HTTP server the same way for a standalone process and for a worker of
the arbiter; the differences (which signals stop it, what happens at max requests, whether
idle connections are held on stop, who is told it is ready) go through these hooks. This
base class is the standalone process; ``worker.WorkerHooks`` is a worker's.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Sequence

from frontdesk.http import Handler, HttpServer
from frontdesk.sockets import sock_url

from .logfile import reopen_log_files

__all__ = ["ServeHooks"]

log = logging.getLogger("frontdesk.serve")


class ServeHooks:
    """A standalone process: TERM/INT stop it, max requests stop it, USR1 reopens logs."""

    def on_loop(self) -> asyncio.Event:
        """Called first on the running loop; returns the event that stops the server."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, reopen_log_files)
        return stop

    def on_max_requests(self, stop: asyncio.Event) -> Callable[[], None]:
        """What the handler calls once ``limit_max_requests`` requests have arrived."""
        return stop.set

    #: on stop, keep idle keep-alive connections to their own deadline (see
    #: ``HttpServer.shutdown``): for a worker whose siblings go on serving
    hold_idle_on_stop = False

    def on_serving(
        self, server: HttpServer, sockets: Sequence[socket.socket], handler: Handler
    ) -> None:
        """The server accepts on every socket."""
        for sock in sockets:
            log.info("listening on %s", sock_url(sock))
