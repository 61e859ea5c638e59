"""The WSGI handler: hands each request of the HTTP core to a WSGI app (PEP 3333).

Two execution modes, chosen by ``threads``:

- ``threads == 1``: inline (``inline.py``). The app is called on the loop's thread, one call at
  a time, once the request body has been received without blocking the loop.
- ``threads > 1``: a pool of that many threads calls the app (``threaded.py``); the loop does
  all the I/O, so a slow client or a slow request never stalls the others.

Request accounting mirrors the ASGI handler: ``limit_max_requests`` stops the server once the
last request is answered, ``limit_concurrency`` answers 503 past that many requests in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from io import BytesIO
from typing import TYPE_CHECKING, Any

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.interfaces.admission import Admission
from frontdesk.interfaces.wsgi import inline
from frontdesk.interfaces.wsgi.cycle import fail_exchange, respond
from frontdesk.interfaces.wsgi.environ import EnvironBuilder
from frontdesk.interfaces.wsgi.filewrapper import FileWrapper
from frontdesk.interfaces.wsgi.threaded import ThreadedCycle
from frontdesk.observe.journey import log_app_error

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.proxy import TrustedProxies
    from frontdesk.interfaces.wsgi.types import WSGIApp
    from frontdesk.observe.journey import Journey

log = logging.getLogger("frontdesk.wsgi")


class WSGIHandler:
    """Hands each request to a WSGI app (``frontdesk.http.connection.Handler``)."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int = 1,
        root_path: str = "",
        trusted_proxies: TrustedProxies | None = None,
        limit_concurrency: int = 0,
        limit_max_requests: int = 0,
        on_max_requests: Callable[[], None] | None = None,
        multiprocess: bool = False,
        write_window: int = 64 * 1024,
        spool_memory: int = inline.SPOOL_MEMORY,
        journey: Journey | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.app = app
        self.threads = threads
        self.environ = EnvironBuilder(
            root_path=root_path,
            trusted_proxies=trusted_proxies,
            multithread=threads > 1,
            multiprocess=multiprocess,
            file_wrapper=FileWrapper,
        )
        self.admission = Admission(limit_concurrency, limit_max_requests, on_max_requests)
        #: request ids, Server-Timing, tracing and the access log; None: none of them
        self.journey = journey
        #: threads mode: bytes a worker may have on their way to the client before it waits
        self.write_window = write_window
        #: inline mode: request body bytes held in memory before spooling to a temporary file
        self.spool_memory = spool_memory
        self.executor = (
            ThreadPoolExecutor(threads, thread_name_prefix="frontdesk-wsgi")
            if threads > 1
            else None
        )
        #: requests in flight that wait on the loop or on a worker thread
        self.pending: set[asyncio.Future[None]] = set()

    def handle(self, exchange: Exchange) -> None:
        journey = self.journey
        trip = None
        if journey is not None and (exchange.request.journey or journey.access):
            trip = journey.begin(exchange)
        if not self.admission.admit(exchange, len(self.pending)):
            return
        if self.executor is not None:
            self._submit(exchange, self.executor)
            return
        # Each request runs in a context of its own, so a context variable an app sets and
        # never resets does not leak into the next request.
        context = contextvars.Context()
        request = exchange.request
        data = b""
        # Without a body there is nothing to wait for or read (and nothing to fail: the
        # exchange of a closed connection is never handed on): the commonest request skips it.
        if request.content_length or request.chunked:
            if not exchange.body_received:
                coro = inline.respond_spooled(self.app, self.environ, exchange)
                self._track(exchange, coro, context)
                return
            try:
                data = exchange.read_nowait() or b""  # the body, received whole
            except (ClientDisconnected, ProtocolError):
                exchange.abort()  # gone, or refused and already answered by the core
                return
        environ = self.environ.build(exchange, BytesIO(data))
        if request.chunked:
            inline.chunked_length(environ, len(data))
        if trip is not None:
            trip.client = environ.get("REMOTE_ADDR")
            trip.call()
        sink = inline.ExchangeSink(exchange, asyncio.get_running_loop())
        cycle = respond(self.app, environ, sink)
        wait = context.run(inline.step, cycle)
        if wait is not None:  # back-pressure or a sendfile: go on in a task
            self._track(exchange, inline.finish(cycle, wait), context)

    def _submit(self, exchange: Exchange, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        cycle = ThreadedCycle(loop, exchange, self.write_window)
        environ = self.environ.build(exchange, cycle.input())
        trip = exchange.trip
        if trip is not None:
            trip.client = environ.get("REMOTE_ADDR")
        context = contextvars.Context()
        future = loop.run_in_executor(executor, context.run, cycle.run, self.app, environ)
        self.pending.add(future)
        future.add_done_callback(partial(self._done, exchange))

    def _track(
        self, exchange: Exchange, coro: Coroutine[Any, Any, None], context: contextvars.Context
    ) -> None:
        task = asyncio.get_running_loop().create_task(coro, context=context)
        self.pending.add(task)
        task.add_done_callback(partial(self._done, exchange))

    def _done(self, exchange: Exchange, future: asyncio.Future[None]) -> None:
        self.pending.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log_app_error(log, "WSGI request failed", exchange, error)
        if not exchange.finished:
            # A cycle always finishes its exchange; this is the net under a cancelled one.
            fail_exchange(exchange)

    async def shutdown(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for requests in flight, then let the threads go."""
        if self.pending:
            await asyncio.wait(list(self.pending), timeout=timeout)
        self.close()

    def close(self) -> None:
        """Stop the thread pool; requests still queued for it are dropped."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
