"""Threads mode (``threads > 1``): worker threads call the app, the loop does all the I/O.

A ``ThreadedCycle`` is one request's bridge between its worker thread and the loop:

- ``wsgi.input`` reads block the worker on the loop's ``Exchange.read`` (through
  ``run_coroutine_threadsafe``), so the body streams in as the app reads it;
- response writes are handed to the loop with ``call_soon_threadsafe`` and the worker goes on
  producing, within a window of ``window`` bytes not yet handed to the transport or still
  above its high-water mark; past it the worker waits until the loop's ``drain()`` lets the
  bytes through. A slow client stalls only its own worker, and memory stays bounded;
- a sendfile runs on the loop while the worker waits for it (the app's file must stay open);
- once the exchange cannot go on (the client left, the core answered already), the worker's
  next write raises ``ClientDisconnected`` so the app stops producing.

Every loop-side method runs on the loop thread; every other on the worker thread. The shared
state (bytes in the window, the error) is guarded by one condition variable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.interfaces.wsgi.cycle import fail_exchange, open_response, respond
from frontdesk.interfaces.wsgi.input import StreamInput
from frontdesk.observe.journey import log_app_error

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.wsgi.types import Environ, Head, WSGIApp

log = logging.getLogger("frontdesk.wsgi")

T = TypeVar("T")

# How often a waiting worker checks that the loop still runs (a safety net: the loop wakes it
# long before, unless it stopped without finishing its connections).
_LIVENESS = 1.0


class ThreadedCycle:
    __slots__ = ("_cond", "_draining", "_error", "_held", "_queued", "exchange", "loop", "window")

    def __init__(self, loop: asyncio.AbstractEventLoop, exchange: Exchange, window: int) -> None:
        self.loop = loop
        self.exchange = exchange
        self.window = window
        self._cond = threading.Condition(threading.Lock())
        self._queued = 0  # bytes handed to the loop and not yet let through
        self._error: ClientDisconnected | None = None
        self._held = 0  # loop side: bytes written while the transport was paused
        self._draining = False  # loop side

    # -- set-up, on the loop ---------------------------------------------------------------

    def input(self) -> StreamInput:
        """``wsgi.input``, starting with the body bytes the loop already holds."""
        exchange = self.exchange
        try:
            data = exchange.read_nowait()
        except (ClientDisconnected, ProtocolError):
            data = None  # the worker's first read raises it
        if data is None:
            return StreamInput(self._read)
        return StreamInput(self._read, data, exchange.body_complete)

    # -- the worker thread -----------------------------------------------------------------

    def run(self, app: WSGIApp, environ: Environ) -> None:
        """Call the app and send its response; runs on a worker thread."""
        trip = self.exchange.trip
        if trip is not None:
            trip.call()  # the wait for a free thread is over: it counts as queueing
        for wait in respond(app, environ, self):
            wait.close()  # not reached: this sink waits itself and hands back no wait

    def _post(self, callback: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed
            raise ClientDisconnected("the server has stopped") from None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:
            coro.close()
            raise ClientDisconnected("the server has stopped") from None
        while True:
            try:
                return future.result(_LIVENESS)
            except TimeoutError:
                if not self.loop.is_running():
                    future.cancel()
                    raise ClientDisconnected("the server has stopped") from None
            except concurrent.futures.CancelledError:
                raise ClientDisconnected("the server has stopped") from None

    def _read(self) -> bytes:
        return self._call(self._read_on_loop())

    def write(self, head: Head | None, data: bytes) -> None:
        size = len(data)
        with self._cond:
            while self._error is None and self._queued and self._queued + size > self.window:
                if not self._cond.wait(_LIVENESS) and not self.loop.is_running():
                    raise ClientDisconnected("the server has stopped")
            if self._error is not None:
                raise ClientDisconnected(str(self._error))
            self._queued += size
        self._post(self._write_on_loop, head, data)

    def pause(self) -> None:
        return None  # write() waits itself

    def sendfile(self, head: Head | None, file: BinaryIO, offset: int, count: int) -> None:
        self._call(self._sendfile_on_loop(head, file, offset, count))

    def end(self, head: Head | None, data: bytes) -> None:
        self._post(self._end_on_loop, head, data)

    def fail(self) -> None:
        self._post(fail_exchange, self.exchange)

    def abort(self) -> None:
        self._post(self.exchange.abort)

    # -- the loop --------------------------------------------------------------------------

    def _open(self, head: Head | None) -> Exchange:
        return open_response(self.exchange, head)

    async def _read_on_loop(self) -> bytes:
        exchange = self.exchange
        try:
            data = exchange.read_nowait()
            if data is None:
                data = await exchange.read()
        except ProtocolError as exc:
            # Too large, cut short, too slow: the core answers the client itself; the app
            # sees a body it cannot read, as an OSError.
            raise ClientDisconnected(f"the request body could not be read: {exc}") from exc
        return data

    def _write_on_loop(self, head: Head | None, data: bytes) -> None:
        try:
            exchange = self._open(head)
            exchange.write(data)
        except Exception as exc:
            self._stop(exc)
            return
        if self._draining or exchange.write_paused:
            self._held += len(data)
            if not self._draining:
                self._draining = True
                self.loop.create_task(self._drain())
        else:
            self._release(len(data))

    async def _drain(self) -> None:
        try:
            while self.exchange.write_paused:
                await self.exchange.drain()
        except Exception as exc:
            self._stop(exc)
        finally:
            self._draining = False
            held, self._held = self._held, 0
            self._release(held)

    async def _sendfile_on_loop(
        self, head: Head | None, file: BinaryIO, offset: int, count: int
    ) -> None:
        await self._open(head).sendfile(file, offset, count)

    def _end_on_loop(self, head: Head | None, data: bytes) -> None:
        try:
            self._open(head).end(data)
        except Exception as exc:
            self._stop(exc)

    def _stop(self, exc: Exception) -> None:
        """The exchange cannot go on: finish it here, and stop the worker's writes."""
        if isinstance(exc, ClientDisconnected):
            self.exchange.abort()
        else:
            # The core refused what the app sent, in a way start_response could not check.
            log_app_error(log, "Exception in WSGI response", self.exchange, exc)
            fail_exchange(self.exchange)
        with self._cond:
            if self._error is None:
                self._error = ClientDisconnected(f"the response was cut short: {exc}")
            self._cond.notify_all()

    def _release(self, size: int) -> None:
        with self._cond:
            self._queued -= size
            self._cond.notify_all()
