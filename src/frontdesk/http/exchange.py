"""One request and its response: the seam between the HTTP/1.1 core and a request handler.

A handler (the ASGI or WSGI layer, the edge's proxy, a static file route) receives an
``Exchange`` when it is the request's turn, reads the body with ``read()``, and answers with
``start()`` then ``write()``/``end()``. The exchange owns the response framing: it picks
Content-Length, chunked or close-delimited, strips bodies where HTTP forbids them, holds an app
to the length it declared, and adds Date, Server and Connection. A head answered again and
again (a static file's, an error page's) is checked and encoded once into a ``PreparedHead``
and started with ``start_prepared()``.

``received`` and ``received_at`` stamp the moment the request head was parsed (the
exchange is made then), on the ``perf_counter`` and the wall clock, so any layer can measure
from it without a clock call of its own.

Invariants:
- all methods run on the connection's event loop thread;
- the head is written together with the first body bytes (one write for small responses);
- once ``finished`` is true the connection may already be serving the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from time import perf_counter
from time import time as wall_time
from typing import TYPE_CHECKING, BinaryIO

from frontdesk.errors import ClientDisconnected, LocalProtocolError, ProtocolError
from frontdesk.http.prepared import PreparedHead, checked_head, take_framing
from frontdesk.http.rules import NO_BODY_STATUSES
from frontdesk.http.sendfile import file_descriptor, send_direct
from frontdesk.http.writer import (
    CHUNKED_FIELD,
    CLOSE_FIELD,
    CONTINUE,
    CRLF,
    KEEP_ALIVE_FIELD,
    SERVER_FIELD,
    chunk,
    encode_fields,
    informational,
    last_chunk,
)

if TYPE_CHECKING:
    import ssl

    from frontdesk.http.connection import ConnectionSet, HttpConnection
    from frontdesk.http.request import Request
    from frontdesk.observe.journey import Trip

# Framing of the response body, decided when the first body bytes go out.
_UNDECIDED, _LENGTH, _CHUNKED, _CLOSE, _NONE = range(5)


class Exchange:
    __slots__ = (
        "_body",
        "_body_error",
        "_body_size",
        "_conn",
        "_continue_sent",
        "_done_waiter",
        "_drain_waiter",
        "_framing",
        "_head",
        "_no_body",
        "_prefer_chunked",
        "_remaining",
        "_waiter",
        "body_received",
        "finished",
        "keep_alive",
        "received",
        "request",
        "started",
        "status",
        "trip",
    )

    def __init__(self, conn: HttpConnection, request: Request) -> None:
        #: ``time.perf_counter()`` when the request head had been parsed: measure a layer's
        #: time from here (it includes any wait behind pipelined requests)
        self.received = perf_counter()
        self._conn = conn
        self.request = request
        self._body: list[bytes] = []  # a list: cheaper to make than a deque, and enough
        self._body_size = 0
        #: the whole body has been received (read or not); only the exchange sets it
        self.body_received = not (request.chunked or request.content_length)  # has_body
        self._body_error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._done_waiter: asyncio.Future[None] | None = None
        self._prefer_chunked = False
        self._continue_sent = False
        self._head: bytes | None = None
        self._framing = _UNDECIDED
        self._no_body = request.method == "HEAD"
        self._remaining = -1
        self.keep_alive = request.keep_alive
        self.started = False
        self.finished = False
        self.status = 0
        #: the request's journey (request id, Server-Timing, access log), when it has one
        self.trip: Trip | None = None

    @property
    def received_at(self) -> float:
        """``received`` on the wall clock (``time.time()``): seconds since the epoch, for logs
        and for fields such as ``X-Request-Start`` (worked out when asked, as few ask)."""
        return wall_time() - (perf_counter() - self.received)

    # -- connection facts ------------------------------------------------------------------

    @property
    def client(self) -> tuple[str, int] | None:
        return self._conn.client

    @property
    def server(self) -> tuple[str, int | None] | None:
        return self._conn.server_address

    @property
    def scheme(self) -> str:
        """The scheme the client reached this server by: "https" on TLS, else "http"."""
        return "https" if self._conn.ssl_object is not None else "http"

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The connection's TLS session (version, cipher, ALPN), or None on plain TCP."""
        return self._conn.ssl_object

    @property
    def connection(self) -> HttpConnection:
        """The connection this exchange is on (for a handler's per-connection state)."""
        return self._conn

    @property
    def server_set(self) -> ConnectionSet:
        """The server this exchange's connection belongs to (its connections, draining)."""
        return self._conn.server_set

    @property
    def disconnected(self) -> bool:
        return self._conn.closed

    @property
    def body_complete(self) -> bool:
        """The whole body has been received and read."""
        return self.body_received and not self._body

    # -- request body ----------------------------------------------------------------------

    def read_nowait(self) -> bytes | None:
        """Buffered body bytes, b"" at the end of the body, or None when it must wait."""
        if self._body:
            body = self._body
            data = body[0] if len(body) == 1 else b"".join(body)
            body.clear()
            self._body_size = 0
            self._conn.body_consumed(self)
            return data
        if self._body_error is not None:
            raise self._body_error
        if self.body_received:
            return b""
        if self._conn.closed:
            raise ClientDisconnected("client disconnected")
        return None

    async def read(self) -> bytes:
        """The next piece of the request body; b"" once it has all been read."""
        while True:
            data = self.read_nowait()
            if data is not None:
                return data
            if self.request.expect_continue and not self._continue_sent and not self.started:
                self._continue_sent = True
                self._conn.write(CONTINUE)
            waiter = self._conn.loop.create_future()
            self._waiter = waiter
            self._conn.waiting_for_body(True)
            try:
                await waiter
            finally:
                self._waiter = None
                self._conn.waiting_for_body(False)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed_body(self, data: bytes) -> int:
        """Called by the connection with body bytes; returns the bytes now buffered."""
        self._body.append(data)
        self._body_size += len(data)
        self._wake()
        return self._body_size

    def feed_complete(self) -> None:
        self.body_received = True
        if self._waiter is not None:
            self._wake()

    def feed_error(self, exc: BaseException) -> None:
        self._body_error = exc
        self._wake()
        self._wake_done()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(ClientDisconnected("client disconnected"))

    @property
    def buffered(self) -> int:
        return self._body_size

    # -- response --------------------------------------------------------------------------

    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Send a 1xx interim response (e.g. 103 Early Hints) before the final one.

        HTTP/1.0 clients do not understand them (RFC 9110 15.2), so they are skipped there.
        """
        if self.started:
            raise LocalProtocolError("interim response after the final response started")
        data = informational(status, headers)
        if self.request.version == "1.1" and not self._conn.closed:
            self._conn.write(data)

    def start(
        self, status: int, headers: Iterable[Sequence[bytes]], *, trailers: bool = False
    ) -> None:
        """Begin the final response. Nothing is written until the first body bytes or ``end``.

        ``trailers``: trailer fields will follow the body, so use chunked framing (when the
        client accepts trailers) even if the whole body turns out to be known at once.
        """
        if self.started:
            raise LocalProtocolError("response already started")
        if self._conn.closed:
            raise ClientDisconnected("client disconnected")
        # Decided first and committed at the end: a start refused (a bad field, or a
        # ValueError for a malformed status) leaves the exchange unstarted, so the app can
        # still answer, with a 500 say.
        line, block, remaining, close = checked_head(status, headers)
        trip = self.trip
        if trip is not None:
            block += encode_fields(trip.head_fields())
        self._commit(status, line, block, remaining, close, trailers)

    def start_prepared(
        self,
        head: PreparedHead,
        extra: list[tuple[bytes, bytes]] | None = None,
        *,
        trailers: bool = False,
        more: bytes = b"",
    ) -> None:
        """Begin the final response from ``head``, whose fields were checked and encoded once.

        ``extra``: fields of this response only (a timing, a request id), checked as
        ``start`` checks them and written after ``head``'s. ``more``: field lines of this
        response already encoded (each ``name: value`` and CRLF, a token name and a value
        without CR, LF or NUL, no framing field: the caller's to ensure), written after
        ``head``'s. Everything else is ``start``'s: framing, Date, Server, Connection, the
        journey's fields, HEAD and no-body statuses.
        """
        if self.started:
            raise LocalProtocolError("response already started")
        if self._conn.closed:
            raise ClientDisconnected("client disconnected")
        status = head.status
        block = head.block + more if more else head.block
        remaining = head.length
        close = head.close
        if extra:
            fields, length, more_close = take_framing(status, extra)
            if length >= 0:
                if remaining >= 0 and length != remaining:
                    raise LocalProtocolError("differing Content-Length values")
                remaining = length
            close = close or more_close
            if fields:
                block += encode_fields(fields)
        trip = self.trip
        if trip is not None:
            block += encode_fields(trip.head_fields())
        self._commit(status, head.line, block, remaining, close, trailers)

    def respond(self, head: PreparedHead, body: bytes, more: bytes = b"") -> None:
        """``start_prepared(head, more=more)`` then ``end(body)``: a whole response at once
        (a static file's ready answer, a buffered upstream response), by the same rules.

        The common case (a body of the head's length, or of any length when it declares
        none, for a status that has one) is written here without the steps between; any
        other goes through the two calls.
        """
        conn = self._conn
        length = head.length
        size = len(body)
        if (
            self.started
            or conn.closed
            or (length >= 0 and length != size)
            or head.status in NO_BODY_STATUSES
        ):
            self.start_prepared(head, more=more)
            self.end(body)
            return
        keep_alive = self.keep_alive and not head.close and conn.keep_alive_allowed()
        trip = self.trip
        if trip is not None:
            more += encode_fields(trip.head_fields())
        if not keep_alive:
            connection = CLOSE_FIELD
        elif self.request.version == "1.0":
            connection = KEEP_ALIVE_FIELD
        else:
            connection = b""
        # (one join: cheaper than a bytes object per piece added)
        out = b"".join(
            (
                head.line,
                conn.date_source.date_field,
                SERVER_FIELD if conn.limits.server_header else b"",
                head.block,
                more,
                b"content-length: %d\r\n" % size,
                connection,
                CRLF,
                b"" if self._no_body else body,
            )
        )
        self.started = True
        self.status = head.status
        self.keep_alive = keep_alive
        self._framing = _LENGTH
        self._remaining = 0
        conn.write(out)
        self.finished = True
        if self._done_waiter is not None:
            self._wake_done()
        if trip is not None:
            if not self._no_body:
                trip.sent += size
            trip.finish(self)
        conn.exchange_done(self)

    def _commit(
        self, status: int, line: bytes, block: bytes, remaining: int, close: bool, trailers: bool
    ) -> None:
        """The response has started: its head, all but the framing fields, is ready."""
        conn = self._conn
        keep_alive = self.keep_alive and not close and conn.keep_alive_allowed()
        self._head = b"".join(
            (
                line,
                conn.date_source.date_field,
                SERVER_FIELD if conn.limits.server_header else b"",
                block,
            )
        )
        self.started = True
        self.status = status
        self._prefer_chunked = trailers and self.request.accepts_trailers
        if status in NO_BODY_STATUSES:
            self._no_body = True
        self._remaining = remaining
        self._framing = _LENGTH if remaining >= 0 else _UNDECIDED
        self.keep_alive = keep_alive

    def _finish_head(self, final_size: int | None) -> bytes:
        """The head with its framing fields, decided now that the first bytes are known."""
        head = self._head
        assert head is not None
        self._head = None
        framing = self._framing
        extra = b""
        if framing == _UNDECIDED:
            if self._no_body and self.status in NO_BODY_STATUSES:
                framing = _NONE
            elif final_size is not None and not self._prefer_chunked:
                framing = _LENGTH
                self._remaining = final_size
                extra = b"content-length: %d\r\n" % final_size
            elif self.request.version == "1.1":
                framing = _CHUNKED
                extra = CHUNKED_FIELD
            else:
                framing = _CLOSE
                self.keep_alive = False
            self._framing = framing
        elif framing == _LENGTH:
            extra = b"content-length: %d\r\n" % self._remaining
        if not self.keep_alive:
            extra += CLOSE_FIELD
        elif self.request.version == "1.0":
            extra += KEEP_ALIVE_FIELD
        return head + extra + CRLF

    def _frame(self, data: bytes) -> bytes:
        framing = self._framing
        if framing == _LENGTH:
            size = len(data)
            if size > self._remaining:
                self.keep_alive = False
                raise LocalProtocolError("response body longer than its Content-Length")
            self._remaining -= size
        elif framing == _CHUNKED:
            return chunk(data) if data and not self._no_body else b""
        elif framing == _NONE and data:
            raise LocalProtocolError(f"a {self.status} response has no body")
        return b"" if self._no_body else data

    def write(self, data: bytes) -> None:
        """Send body bytes. Raises ClientDisconnected once the client has gone."""
        if not self.started:
            raise LocalProtocolError("body before the response started")
        if self.finished:
            raise LocalProtocolError("response already complete")
        conn = self._conn
        if conn.closed:
            raise ClientDisconnected("client disconnected")
        try:
            if self._head is not None:
                if not data:
                    return  # the head waits for real bytes, or for end()
                head = self._finish_head(None)
                conn.write(head + self._frame(data))
            elif data:
                conn.write(self._frame(data))
            trip = self.trip
            if trip is not None and not self._no_body:
                trip.sent += len(data)
        except LocalProtocolError:
            # The response cannot be framed as it began: close rather than leave the client
            # waiting for bytes (or a head) that will never come.
            self.abort()
            raise

    def end(self, data: bytes = b"", trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        """Send the last body bytes (and trailers, if the client accepts them) and finish."""
        if not self.started:
            raise LocalProtocolError("response ended before it started")
        if self.finished:
            raise LocalProtocolError("response already complete")
        conn = self._conn
        if conn.closed:
            self.finished = True
            self._wake_done()
            self._end_trip()
            conn.exchange_done(self)
            raise ClientDisconnected("client disconnected")
        try:
            if self._head is not None:
                # The whole body is known: a length beats chunked framing.
                out = self._finish_head(len(data))
                out += self._frame(data)
            else:
                out = self._frame(data)
            if self._framing == _CHUNKED:
                if not self._no_body:  # a HEAD response announces chunks but sends none
                    accepted = trailers if self.request.accepts_trailers else None
                    out += last_chunk(accepted)
            elif self._framing == _LENGTH and self._remaining > 0 and not self._no_body:
                # Fewer bytes than declared: the client can only tell by the connection closing.
                self.keep_alive = False
            elif self._framing == _CLOSE:
                self.keep_alive = False
        except ProtocolError:
            self.finished = True
            self.keep_alive = False
            self._wake_done()
            self._end_trip()
            conn.exchange_done(self)
            raise
        if out:
            conn.write(out)
        self.finished = True
        self._wake_done()
        trip = self.trip
        if trip is not None:
            if not self._no_body:
                trip.sent += len(data)
            trip.finish(self)
        conn.exchange_done(self)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` as body, by sendfile where the loop can.

        Frames them like ``write`` would: the head gets a Content-Length of ``count`` when the
        app declared none and nothing was sent yet.
        """
        if not self.started or self.finished:
            raise LocalProtocolError("sendfile outside a started response")
        conn = self._conn
        if conn.closed or conn.transport is None:
            raise ClientDisconnected("client disconnected")
        prefix = b""
        if self._head is not None:
            if self._framing == _UNDECIDED and not self._prefer_chunked:
                self._framing = _LENGTH
                self._remaining = count
            prefix = self._finish_head(None)
        if (self._framing == _LENGTH and count > self._remaining) or (
            self._framing == _NONE and count
        ):
            # As in write(): a response that cannot be framed ends the connection.
            self.abort()
            raise LocalProtocolError("file body does not fit the response's framing")
        if self._framing == _LENGTH:
            self._remaining -= count
        trip = self.trip
        if trip is not None and not self._no_body:
            trip.sent += count
        if self._no_body or count == 0:
            if prefix:
                conn.write(prefix)
            return
        if self._framing == _CHUNKED:
            prefix += b"%x\r\n" % count
        try:
            await self._send_file(prefix, file, offset, count)
        except LocalProtocolError:
            # The file ended before ``count`` bytes: the framing promised more than will come.
            self.abort()
            raise
        if self._framing == _CHUNKED:
            conn.write(CRLF)

    async def _send_file(self, prefix: bytes, file: BinaryIO, offset: int, count: int) -> None:
        """``prefix`` then the file range: zero-copy where possible, else copied in pieces."""
        conn = self._conn
        if not conn.native_sendfile:
            sock_fd = conn.direct_fd()
            file_fd = file_descriptor(file) if sock_fd >= 0 else -1
            if file_fd >= 0:
                await send_direct(conn, prefix, sock_fd, file_fd, offset, count)
                return
        if prefix:
            conn.write(prefix)
        await self.drain()
        try:
            if conn.native_sendfile:
                assert conn.transport is not None
                sent = await conn.loop.sendfile(conn.transport, file, offset, count, fallback=False)
                if sent < count:
                    if conn.closed or conn.transport.is_closing():
                        raise ClientDisconnected("client disconnected")
                    raise LocalProtocolError("file shorter than the length being sent")
            else:
                await self._copy_file(file, offset, count)
        except (NotImplementedError, asyncio.SendfileNotAvailableError):
            # Raised before anything is sent (TLS transports cannot; a file without a
            # descriptor cannot).
            conn.native_sendfile = False
            await self._copy_file(file, offset, count)
        except ConnectionError as exc:
            # The socket failed under loop.sendfile: the transport may not know yet.
            conn.abort()
            raise ClientDisconnected("client disconnected") from exc
        except RuntimeError as exc:
            if conn.closed:
                raise ClientDisconnected("client disconnected") from exc
            raise

    async def _copy_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send a file range through the transport in pieces, under write back-pressure."""
        conn = self._conn
        file.seek(offset)
        while count > 0:
            data = file.read(min(count, 256 * 1024))
            if not data:
                raise LocalProtocolError("file shorter than the length being sent")
            count -= len(data)
            if conn.closed:
                raise ClientDisconnected("client disconnected")
            conn.write(data)
            await self.drain()

    def _end_trip(self) -> None:
        trip = self.trip
        if trip is not None:
            trip.finish(self)

    def answered_by_core(self, status: int) -> None:
        """The core answers this request itself (``status``), before the handler started one."""
        self.finished = True
        self.status = status
        self._end_trip()

    def _wake_done(self) -> None:
        waiter = self._done_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def notify_eof(self) -> None:
        self._wake_done()

    async def wait_done(self) -> None:
        """Return once the response is complete or the client has gone (or stopped sending)."""
        if self.finished or self._conn.closed or self._conn.eof:
            return
        waiter = self._done_waiter
        if waiter is None:
            waiter = self._done_waiter = self._conn.loop.create_future()
        await waiter

    def switch_protocol(self, head: bytes, protocol: asyncio.Protocol) -> None:
        """Answer with the 101 ``head`` (complete, with its blank line) and hand the connection
        to ``protocol``, which receives the bytes that followed the upgrade request."""
        if self.started:
            raise LocalProtocolError("response already started")
        if self.request.upgrade is None:
            raise LocalProtocolError("the request did not ask to upgrade")
        self.started = True
        self.finished = True
        self.status = 101
        self.keep_alive = False
        self._conn.switch_protocol(self, head, protocol)
        self._end_trip()  # the HTTP exchange ends here; the new protocol's life is its own

    def abort(self) -> None:
        """Give up on this exchange: the connection is closed without a proper response end."""
        self.keep_alive = False
        if not self.finished:
            self.finished = True
            self._wake_done()
            self._end_trip()
            self._conn.abort()

    # -- write flow control ----------------------------------------------------------------

    @property
    def write_paused(self) -> bool:
        """The transport's write buffer is above its high-water mark: ``drain()`` would wait."""
        return self._conn.write_paused

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        conn = self._conn
        if conn.closed:
            raise ClientDisconnected("client disconnected")
        if not conn.write_paused:
            return
        waiter = conn.loop.create_future()
        self._drain_waiter = waiter
        conn.add_drain_waiter(waiter)
        try:
            await waiter
        finally:
            self._drain_waiter = None
