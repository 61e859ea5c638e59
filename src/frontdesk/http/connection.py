"""One client connection: keep-alive, pipelining in order, flow control, timeouts.

Requests are parsed as bytes arrive and queued as ``Exchange`` objects; they are handed to the
handler one at a time, in arrival order, after the parser has returned (never from inside an
llhttp callback). Reading pauses while the queue is full, while a request body waits above its
high-water mark, and while an upgrade request is pending. A request the parser refuses is
queued as its error, so it is answered in turn, after the responses before it, and the
connection closes.

A connection closes after a response to an error by a *lingering close*: our side is shut for
writing and the client's remaining bytes are read and dropped for a bounded time, so that
the answer is not destroyed by a reset from unread data.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol, cast

from frontdesk.errors import ClientDisconnected, ProtocolError, RemoteProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.http.parser import RequestParser, UpgradeRequested
from frontdesk.http.writer import error_response
from frontdesk.sockets import set_nodelay

if TYPE_CHECKING:
    import ssl

    from frontdesk.http.clock import Clock
    from frontdesk.http.limits import HttpLimits
    from frontdesk.http.request import Request

log = logging.getLogger("frontdesk.http")

# Why reading is paused; reading resumes when no reason is left.
PAUSE_BODY = 1
PAUSE_PIPELINE = 2
PAUSE_UPGRADE = 4

# What the connection's single deadline guards.
NO_DEADLINE, HEAD_DEADLINE, IDLE_DEADLINE, BODY_DEADLINE, LINGER_DEADLINE = range(5)

LINGER_SECONDS = 2.0


class Handler(Protocol):
    """What the core hands each request to, in order, on the connection's loop."""

    def handle(self, exchange: Exchange) -> None: ...


class ServerConnection(Protocol):
    """What the server's connection set holds: HTTP/1.1 connections and upgraded ones."""

    closed: bool

    def check_deadline(self, now: float) -> None: ...
    def close_if_idle(self) -> bool: ...
    def abort(self) -> None: ...


class ConnectionState(Protocol):
    """Something a handler keeps per connection (the ASGI handler's host task), ended with it."""

    def close(self) -> None: ...


class ConnectionSet(Protocol):
    """The server side a connection reports to (implemented by ``HttpServer``)."""

    loop: asyncio.AbstractEventLoop
    limits: HttpLimits
    handler: Handler
    clock: Clock
    connections: set[ServerConnection]
    draining: bool


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_current",
        "_deadline",
        "_deadline_kind",
        "_drain_waiters",
        "_eof",
        "_lingering",
        "_no_more",
        "_parser",
        "_parsing",
        "_paused",
        "_queue",
        "_starting",
        "_upgrade_stash",
        "app_host",
        "client",
        "closed",
        "date_source",
        "handler",
        "limits",
        "loop",
        "native_sendfile",
        "sendfile_fd",
        "server_address",
        "server_set",
        "ssl_object",
        "transport",
        "write_paused",
    )

    def __init__(self, server: ConnectionSet) -> None:
        self.server_set = server
        self.loop = server.loop
        self.limits = server.limits
        self.handler = server.handler
        self.date_source = server.clock
        self.transport: asyncio.Transport | None = None
        self._parser = RequestParser(self.limits, self)
        self._queue: deque[Exchange | ProtocolError] = deque()
        self._current: Exchange | None = None
        self._parsing: Exchange | None = None
        self._starting = False
        self._paused = 0
        self._no_more = False
        self._eof = False
        self._lingering = False
        self._upgrade_stash: bytes | None = None
        self._deadline = 0.0
        self._deadline_kind = NO_DEADLINE
        self._drain_waiters: list[asyncio.Future[None]] = []
        self.write_paused = False
        #: whether loop.sendfile works on this transport (plain asyncio, no TLS); learnt once
        self.native_sendfile = isinstance(self.loop, asyncio.BaseEventLoop)
        #: the socket's descriptor for zero-copy sendfile around the transport (see
        #: ``direct_fd``): -2 not looked up yet, -1 not available (TLS, no socket)
        self.sendfile_fd = -2
        self.closed = False
        self.client: tuple[str, int] | None = None
        self.server_address: tuple[str, int | None] | None = None
        #: the TLS session (ALPN, version, cipher; SNI via ``frontdesk.edge.tls``), or None
        self.ssl_object: ssl.SSLObject | None = None
        #: the handler's state for this connection, closed when HTTP/1.1 ends on it
        self.app_host: ConnectionState | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they quack alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        limits = self.limits
        transport.set_write_buffer_limits(limits.write_buffer_high, limits.write_buffer_low)
        set_nodelay(transport)
        self.client = _address(transport.get_extra_info("peername"))
        self.ssl_object = transport.get_extra_info("ssl_object")
        sockname = transport.get_extra_info("sockname")
        if isinstance(sockname, str):
            self.server_address = (sockname, None)
        else:
            self.server_address = _address(sockname)
        self.server_set.connections.add(self)
        self._set_deadline(HEAD_DEADLINE, limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._no_more:
            return  # a closing connection drops whatever the client still sends
        idle = self._deadline_kind == IDLE_DEADLINE
        try:
            self._parser.feed(data)
        except UpgradeRequested as upgrade:
            self._upgrade_stash = data[upgrade.offset :]
            self._pause(PAUSE_UPGRADE)
        except RemoteProtocolError as exc:
            self._refuse(exc)
        if idle and self._deadline_kind == IDLE_DEADLINE:
            # The bytes began a head without ending it (a whole one would have cleared the
            # deadline): the head's timeout runs from here.
            self._set_deadline(HEAD_DEADLINE, self.limits.header_timeout)
        if self._current is None and self._queue:
            self._start_next()

    def eof_received(self) -> bool:
        # The client will send no more. A request cut short is refused; a complete one in
        # flight is still answered (we keep our half open), then the connection closes.
        if self._parsing is not None:
            self._refuse(RemoteProtocolError("request body truncated", 400))
        elif self._parser.head_started and not self._no_more:
            self._refuse(RemoteProtocolError("request head truncated", 400))
        self._no_more = True
        self._eof = True
        if self._current is None and self._queue:
            self._start_next()
        if self._current is None and not self._queue:
            return False  # nothing left to answer: close
        if self._current is not None:
            # Most clients that stop sending have gone away; tell the app (ASGI's
            # http.disconnect), while a response it still writes goes out to a half-close.
            self._current.notify_eof()
        return True

    @property
    def tls(self) -> bool:
        """The connection is TLS: its requests' scheme is https."""
        return self.ssl_object is not None

    @property
    def eof(self) -> bool:
        """The client has closed its sending side."""
        return self._eof

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server_set.connections.discard(self)
        gone = ClientDisconnected("client disconnected")
        for item in (self._current, self._parsing, *self._queue):
            if isinstance(item, Exchange):
                item.feed_error(gone)
        self._queue.clear()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(ClientDisconnected("client disconnected"))
        self._drain_waiters.clear()
        self._deadline_kind = NO_DEADLINE
        self._close_app_host()

    def _close_app_host(self) -> None:
        host = self.app_host
        if host is not None:
            self.app_host = None
            host.close()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- parser sink -----------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        if self._no_more:
            return
        exchange = Exchange(self, request)
        if not request.keep_alive or self.limits.keepalive_timeout <= 0:
            exchange.keep_alive = False
        self._parsing = exchange
        self._queue.append(exchange)
        self._deadline_kind = NO_DEADLINE
        if len(self._queue) >= self.limits.max_pipelined:
            self._pause(PAUSE_PIPELINE)

    def on_body(self, data: bytes) -> None:
        exchange = self._parsing
        if exchange is None:
            return
        if exchange.feed_body(data) > self.limits.body_buffer_high:
            self._pause(PAUSE_BODY)

    def on_request_complete(self, request: Request) -> None:
        exchange = self._parsing
        if exchange is None:
            return
        self._parsing = None
        if not exchange.body_received:  # (a request without a body had it from the start)
            exchange.feed_complete()
        if self._paused & PAUSE_BODY:
            self._resume(PAUSE_BODY)
        if not exchange.keep_alive:
            # RFC 9112 9.6: nothing after a request that closes the connection is processed.
            self._no_more = True

    # -- exchange callbacks ----------------------------------------------------------------

    @property
    def date_field(self) -> bytes:
        return self.date_source.date_field

    def keep_alive_allowed(self) -> bool:
        """May the response being started leave the connection open?"""
        if self._eof or self._lingering:
            return False
        # While draining, answer what is already queued; the last answer closes.
        return not (self.server_set.draining and not self._queue)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            transport.write(data)

    def direct_fd(self) -> int:
        """The socket's descriptor, for ``os.sendfile`` around a plain transport; -1 if none.

        Only for a loop without ``loop.sendfile`` (uvloop) and a connection without TLS. The
        descriptor is the transport's: write to it only while ``transport.is_closing()`` is
        false (the number may be reused once the transport has closed it) and while the
        transport's write buffer is empty (bytes queued there must go out first).
        """
        fd = self.sendfile_fd
        if fd == -2:
            fd = -1
            transport = self.transport
            if transport is not None and self.ssl_object is None:
                sock = transport.get_extra_info("socket")
                try:
                    fd = int(sock.fileno()) if sock is not None else -1
                except (AttributeError, OSError, ValueError):
                    fd = -1
            self.sendfile_fd = fd
        return fd

    def add_drain_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._drain_waiters.append(waiter)

    def discard_drain_waiter(self, waiter: asyncio.Future[None]) -> None:
        """Forget a waiter woken some other way (it must not pile up on a long connection)."""
        try:
            self._drain_waiters.remove(waiter)
        except ValueError:
            pass

    def body_consumed(self, exchange: Exchange) -> None:
        if self._paused & PAUSE_BODY and exchange.buffered <= self.limits.write_buffer_low:
            self._resume(PAUSE_BODY)

    def waiting_for_body(self, waiting: bool) -> None:
        if waiting:
            self._set_deadline(BODY_DEADLINE, self.limits.body_timeout)
        elif self._deadline_kind == BODY_DEADLINE:
            self._deadline_kind = NO_DEADLINE

    def exchange_done(self, exchange: Exchange) -> None:
        if exchange is not self._current:
            return
        self._current = None
        if self.closed:
            return
        if not exchange.keep_alive or (self.server_set.draining and not self._queue):
            self._close_after_response(exchange)
            return
        if exchange is self._parsing or not exchange.body_received:
            # The app answered without reading the whole body: we cannot find the next
            # request's start without reading the rest, so this connection ends here.
            self._parsing = None
            self._close_after_response(exchange)
            return
        if self._upgrade_stash is not None:
            # The upgrade was not taken: what followed the request is plain HTTP/1.1 again.
            stash, self._upgrade_stash = self._upgrade_stash, None
            self._parser.reset()
            self._resume(PAUSE_UPGRADE)
            if stash:
                self.data_received(stash)
        if self._queue and not self._starting:
            self._start_next()
        if self._current is None and not self._queue and not self.closed:
            if self._no_more:
                self._close_after_response(exchange)
            elif self._parser.head_started:
                self._set_deadline(HEAD_DEADLINE, self.limits.header_timeout)
            else:
                self._set_deadline(IDLE_DEADLINE, self.limits.keepalive_timeout)

    def switch_protocol(self, exchange: Exchange, head: bytes, protocol: asyncio.Protocol) -> None:
        """Write ``head`` (a 101 response) and hand the transport to ``protocol``.

        The new protocol gets ``connection_made`` with the transport, then the bytes the
        client sent after the upgrade request. This connection is done with HTTP/1.1 and
        leaves the server's set; the new protocol may join it (see ``ServerConnection``).
        """
        transport = self.transport
        if exchange is not self._current or transport is None or self.closed:
            raise ClientDisconnected("client disconnected")
        stash, self._upgrade_stash = self._upgrade_stash or b"", None
        self._current = None
        self._no_more = True
        self._deadline_kind = NO_DEADLINE
        self.server_set.connections.discard(self)
        self._close_app_host()
        transport.write(head)
        transport.set_protocol(protocol)
        # Reading resumes before the new protocol starts, so a pause it asks for sticks.
        self._paused = 0
        transport.resume_reading()
        protocol.connection_made(transport)
        if self.write_paused:
            protocol.pause_writing()
        if stash:
            protocol.data_received(stash)

    def abort(self) -> None:
        """Close at once, dropping anything unsent (an app error after the response began)."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- internals -------------------------------------------------------------------------

    def _start_next(self) -> None:
        self._starting = True
        try:
            while self._current is None and self._queue and not self.closed:
                item = self._queue.popleft()
                if self._paused & PAUSE_PIPELINE and len(self._queue) < self.limits.max_pipelined:
                    self._resume(PAUSE_PIPELINE)
                if isinstance(item, ProtocolError):
                    self._answer_error(item)
                    return
                self._current = item
                try:
                    self.handler.handle(item)
                except Exception:
                    log.exception("request handler failed")
                    self._current = None
                    if not item.started:
                        item.answered_by_core(500)
                        self._answer_error(ProtocolError("internal server error", 500))
                    else:
                        item.abort()
                    return
        finally:
            self._starting = False

    def _refuse(self, exc: RemoteProtocolError) -> None:
        """The parser refused the request being parsed: answer it in turn, then close."""
        self._no_more = True
        parsing = self._parsing
        self._parsing = None
        if parsing is not None:
            parsing.feed_error(exc)
            if parsing is self._current:
                if parsing.started:
                    parsing.abort()
                else:
                    self._current = None
                    parsing.answered_by_core(exc.status or 0)
                    self._answer_error(exc)
                return
            # Queued, not yet handed to the handler: its place in line gets the error.
            self._queue = deque(exc if item is parsing else item for item in self._queue)
            return
        self._queue.append(exc)

    def _answer_error(self, exc: ProtocolError) -> None:
        status = exc.status
        self._no_more = True
        self._queue.clear()
        if status is not None and self.transport is not None and not self.closed:
            log.debug("refusing request from %s: %s %s", self.client, status, exc)
            self.transport.write(
                error_response(status, str(exc), self.date_field, server=self.limits.server_header)
            )
        self._linger()

    def _close_after_response(self, exchange: Exchange) -> None:
        if exchange.body_received and self._parsing is None and not self._parser.head_started:
            self._no_more = True
            if self.transport is not None:
                self.transport.close()
        else:
            self._linger()

    def _linger(self) -> None:
        transport = self.transport
        if transport is None or self.closed or self._lingering:
            return
        self._lingering = True
        self._paused = 0
        try:
            transport.resume_reading()
        except RuntimeError:
            pass
        if transport.can_write_eof():
            transport.write_eof()
            self._set_deadline(LINGER_DEADLINE, LINGER_SECONDS)
        else:
            transport.close()

    def _pause(self, reason: int) -> None:
        if not self._paused and self.transport is not None and not self._lingering:
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if self._paused & reason:
            self._paused &= ~reason
            if not self._paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def _set_deadline(self, kind: int, seconds: float) -> None:
        self._deadline_kind = kind
        self._deadline = self.loop.time() + seconds

    def check_deadline(self, now: float) -> None:
        """Called by the clock's sweep; acts on a passed deadline."""
        kind = self._deadline_kind
        if kind == NO_DEADLINE or now < self._deadline or self.closed:
            return
        self._deadline_kind = NO_DEADLINE
        transport = self.transport
        if transport is None:
            return
        if kind == HEAD_DEADLINE and self._parser.head_started and self._current is None:
            self._answer_error(RemoteProtocolError("timed out reading the request head", 408))
        elif kind == BODY_DEADLINE and self._current is not None:
            current = self._current
            timeout = RemoteProtocolError("timed out reading the request body", 408)
            current.feed_error(timeout)
            if current.started:
                current.abort()
            else:
                self._current = None
                current.answered_by_core(408)
                self._answer_error(timeout)
        else:
            # Idle keep-alive, a silent new connection, or the end of a lingering close.
            transport.close()

    def close_if_idle(self) -> bool:
        """For shutdown: close now if no request is in flight or half-read. True if closed."""
        if self._current is None and not self._queue and not self._parser.head_started:
            if self.transport is not None:
                self.transport.close()
            return True
        return False


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
