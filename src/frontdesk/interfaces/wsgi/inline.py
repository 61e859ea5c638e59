"""Inline mode (``threads == 1``): the app runs on the loop's own thread, one call at a time.

Like gunicorn's sync worker, minus a process's whole attention per connection: the loop
receives the request body without blocking (held in memory, spooled to a temporary file past
``spool_memory``), then calls the app and writes its response. A response whose body is in
hand goes out at once, without a task; a task is made only to wait on the loop: for write
back-pressure (a streaming body to a slow client) or a sendfile.

The app's code runs as under a synchronous server: no event loop is running in its thread as
far as it can tell. Django refuses database calls from a thread with a running loop, and an
app calling ``asyncio.run()`` would be refused too; so each step of the cycle hides the loop,
and only what finishes the exchange (which may hand the connection's next request to this
handler) runs with it visible again.
"""

from __future__ import annotations

import asyncio
import tempfile
from asyncio.events import _get_running_loop, _set_running_loop
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.interfaces.wsgi.cycle import fail_exchange, open_response, respond

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.wsgi.environ import EnvironBuilder
    from frontdesk.interfaces.wsgi.types import Environ, Head, Wait, WSGIApp

#: request body bytes held in memory before they are spooled to a temporary file
SPOOL_MEMORY = 1024 * 1024


#: body bytes an inline response writes before it lets the loop run again
YIELD_EVERY = 256 * 1024


class ExchangeSink:
    """The response written straight to the exchange, on the loop thread.

    A body that the client takes as fast as it is made would otherwise be written in one go
    while the loop waits: every ``YIELD_EVERY`` bytes the loop gets a turn, to serve other
    connections and to notice a client that has gone.
    """

    __slots__ = ("exchange", "loop", "unyielded")

    def __init__(self, exchange: Exchange, loop: asyncio.AbstractEventLoop) -> None:
        self.exchange = exchange
        self.loop = loop
        self.unyielded = 0

    def _start(self, head: Head | None) -> Exchange:
        return open_response(self.exchange, head)

    def write(self, head: Head | None, data: bytes) -> None:
        self._start(head).write(data)
        self.unyielded += len(data)

    def pause(self) -> Wait | None:
        exchange = self.exchange
        if exchange.write_paused:
            self.unyielded = 0
            return exchange.drain()
        if self.unyielded >= YIELD_EVERY:
            self.unyielded = 0
            return asyncio.sleep(0)
        return None

    def sendfile(self, head: Head | None, file: BinaryIO, offset: int, count: int) -> Wait:
        return self._start(head).sendfile(file, offset, count)

    def end(self, head: Head | None, data: bytes) -> None:
        # What _start and _with_loop do, written out: this runs once for every request. The
        # loop is left visible: end is the cycle's last step and the app's code is done by
        # then (the iterable's close() comes first), so there is nothing left to hide it from.
        exchange = self.exchange
        if exchange.finished:
            raise ClientDisconnected("the request was already answered")
        _set_running_loop(self.loop)
        if head is None:
            exchange.end(data)
        else:
            exchange.respond(head, data)

    def fail(self) -> None:
        _with_loop(self.loop, fail_exchange, self.exchange)

    def abort(self) -> None:
        _with_loop(self.loop, self.exchange.abort)


def _with_loop(loop: asyncio.AbstractEventLoop, call: Callable[..., None], *args: Any) -> None:
    """``call(*args)`` with ``loop`` visible as the running loop (the app's frames hide it):
    finishing an exchange may start the next pipelined request's task."""
    hidden = _get_running_loop()
    _set_running_loop(loop)
    try:
        call(*args)
    finally:
        _set_running_loop(hidden)


def step(cycle: Generator[Wait, None, None], exc: BaseException | None = None) -> Wait | None:
    """Run the cycle up to its next wait (None: it is done), throwing ``exc`` in first.

    Runs with the loop hidden from the app (see the module docstring).
    """
    loop = _get_running_loop()
    _set_running_loop(None)
    try:
        return cycle.throw(exc) if exc is not None else cycle.send(None)
    except StopIteration:
        return None
    finally:
        _set_running_loop(loop)


async def finish(cycle: Generator[Wait, None, None], wait: Wait | None) -> None:
    """Await each wait the cycle yields, handing it back the outcome, until it is done."""
    while wait is not None:
        try:
            await wait
        except BaseException as exc:
            wait = step(cycle, exc)
        else:
            wait = step(cycle)


def chunked_length(environ: Environ, size: int) -> None:
    """A chunked body received whole has a length now: it is given as CONTENT_LENGTH (and the
    request no longer claims to be chunked), so frameworks that read no further than
    CONTENT_LENGTH, like Django, see it."""
    environ["CONTENT_LENGTH"] = str(size)
    environ.pop("HTTP_TRANSFER_ENCODING", None)


async def respond_spooled(
    app: WSGIApp, builder: EnvironBuilder, exchange: Exchange, memory: int = SPOOL_MEMORY
) -> None:
    """Receive the body without blocking the loop, then run the cycle (in the calling task)."""
    try:
        body, size = await spool_body(exchange, memory)
    except (ClientDisconnected, ProtocolError):
        exchange.abort()  # gone, or refused and already answered by the core
        return
    with body:
        environ = builder.build(exchange, body)
        if exchange.request.chunked:
            chunked_length(environ, size)
        trip = exchange.trip
        if trip is not None:
            trip.client = environ.get("REMOTE_ADDR")
            trip.call()
        sink = ExchangeSink(exchange, asyncio.get_running_loop())
        cycle = respond(app, environ, sink)
        await finish(cycle, step(cycle))


async def spool_body(exchange: Exchange, memory: int = SPOOL_MEMORY) -> tuple[IO[bytes], int]:
    """Receive the whole body: in memory up to ``memory`` bytes, in a temporary file beyond.

    Raises ClientDisconnected or a ProtocolError (the core has then answered already).
    """
    # Handed to the caller open: it is the request's wsgi.input until the response is done.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory)  # noqa: SIM115
    size = 0
    try:
        while True:
            data = exchange.read_nowait()
            if data is None:
                data = await exchange.read()
            if not data:
                break
            spool.write(data)
            size += len(data)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size
