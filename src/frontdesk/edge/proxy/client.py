"""One connection to an upstream server: an asyncio protocol reading responses with httptools.

The proxy writes a request's bytes itself (``write``/``drain``) and reads the response through
``read_head`` and ``read_body``; between requests the connection sits idle in its pool. The
llhttp parser is kept from one response to the next only when the last one ended cleanly on
its own framing and may be followed by another (llhttp is then at a message boundary, as
for any keep-alive stream); after anything else (a HEAD, whose body llhttp would expect,
an error, a spoiled exchange) the next response gets a fresh parser.

Invariants:
- bytes or an end of stream arriving while the connection is idle make it unusable: a
  kept-alive connection the upstream closed is noticed before it is handed out again;
- reading pauses while more than ``high`` body bytes wait to be read (back-pressure towards
  the upstream), and resumes below ``low``;
- every failure is an ``UpstreamError`` that tells whether request bytes were written and
  whether any response byte arrived: what the retry rules need to know;
- a ``watcher`` (the proxy's task-free path) is called after the protocol event that
  changed the exchange's state has been handled, never from inside an llhttp callback, so
  it may finish the exchange and give the connection back to its pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

import httptools

from frontdesk.memo import remember
from frontdesk.sockets import set_nodelay

if TYPE_CHECKING:
    from frontdesk.edge.proxy.upstream import Address

#: statuses whose responses never have a body (RFC 9110 6.4.1)
_NO_BODY = frozenset({204, 304})
#: most bytes a response head may take (nginx's proxy_buffer_size is far smaller)
MAX_RESPONSE_HEAD = 64 * 1024


class UpstreamError(Exception):
    """The exchange with an upstream failed; ``status`` is what the client is answered."""

    status = 502

    def __init__(self, message: str, *, sent: bool = False, responded: bool = False) -> None:
        super().__init__(message)
        #: request bytes were written to the upstream (it may have acted on them)
        self.sent = sent
        #: some response bytes arrived before the failure
        self.responded = responded


class ConnectFailed(UpstreamError):
    """No connection could be made (refused, unreachable): nothing was sent."""


class ConnectTimeout(ConnectFailed):
    status = 504


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamClosed(UpstreamError):
    """The upstream closed or reset the connection before the response was complete."""


class InvalidResponse(UpstreamError):
    """The upstream's bytes are not an HTTP/1.1 response."""


class ResponseHead(NamedTuple):
    """An upstream response's head, as read (built once per response, with
    ``tuple.__new__``: a tuple is the cheapest object to make)."""

    status: int
    #: field lines in arrival order, names lower-cased
    headers: list[tuple[bytes, bytes]]
    content_length: int | None
    chunked: bool
    #: the upstream allows the connection to carry another request (by its fields)
    keep_alive: bool


_new_tuple = tuple.__new__
#: a field value's trailing whitespace (SP, HTAB), as ints
_OWS = (0x20, 0x09)
#: the fields a response head is read for (the rest are only carried)
_FRAMING_NAMES = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_NO_TOKENS: frozenset[bytes] = frozenset()
# Connection values seen again and again (``keep-alive``), parsed once.
_TOKENS_CACHE: dict[bytes, frozenset[bytes]] = {}

# Response heads seen whole, each with its parse, keyed by its bytes. An upstream answers
# the same head again and again (the same status, fields and body size, the Date changing
# once a second): those answers are taken without llhttp and its callbacks
# (``UpstreamConnection._take_known``). Only keep-alive responses framed by a
# Content-Length are remembered; bounded, cleared when full.
_KNOWN: dict[bytes, ResponseHead] = {}
#: heads remembered at most, and the longest one remembered (in bytes)
KNOWN_MAX = 256
KNOWN_HEAD_MAX = 2048


def _tokens_of(value: bytes) -> frozenset[bytes]:
    tokens = _TOKENS_CACHE.get(value)
    if tokens is None:
        tokens = frozenset(token.strip().lower() for token in value.split(b","))
        if len(value) <= 64:
            remember(_TOKENS_CACHE, value, tokens, 256)
    return tokens


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_changed",
        "_dirty",
        "_drain_waiter",
        "_head_bytes",
        "_head_only",
        "_headers",
        "_interim",
        "_keep_alive",
        "_parser",
        "_read_paused",
        "_spare",
        "_timer",
        "_waiter",
        "address",
        "body_size",
        "closed",
        "complete",
        "error",
        "head",
        "high",
        "idle_until",
        "known",
        "loop",
        "low",
        "on_close",
        "received",
        "requests",
        "sent",
        "trailers",
        "transport",
        "tunnel_data",
        "upgraded",
        "watcher",
        "write_paused",
    )

    def __init__(self, address: Address, *, high: int = 64 * 1024, low: int = 16 * 1024) -> None:
        self.address = address
        self.loop = asyncio.get_running_loop()
        self.high = high
        self.low = low
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.write_paused = False
        #: requests begun on this connection
        self.requests = 0
        #: request bytes written / response bytes received for the current exchange
        self.sent = 0
        self.received = 0
        self.trailers: list[tuple[bytes, bytes]] = []
        #: bytes after a 101 response's head: the upgraded protocol's first bytes
        self.tunnel_data = b""
        self.upgraded = False
        #: called once when the connection closes (the pool drops it)
        self.on_close: Callable[[UpstreamConnection], None] | None = None
        #: loop time until which the pool keeps the connection while it is idle
        self.idle_until = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._spare: httptools.HttpResponseParser | None = None
        # The exchange's state, read by the proxy: plain attributes rather than read-only
        # properties, as the direct path reads them for every response (a property is a
        # Python call each time). Only this class sets them.
        #: the final response's head, once received
        self.head: ResponseHead | None = None
        #: the response has been received whole
        self.complete = False
        #: why the exchange failed, once it has
        self.error: UpstreamError | None = None
        #: body bytes received and not yet read
        self.body_size = 0
        #: the head is one remembered from an earlier response (``_KNOWN``): the same
        #: object each time, so what is made of it may be remembered too
        self.known = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._head_only = False
        self._interim = False
        self._body: deque[bytes] = deque()
        self._keep_alive = False
        self._dirty = False
        self._read_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: called once the exchange's state changed (head, body, end, error), when set
        self.watcher: Callable[[], None] | None = None
        self._changed = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(self.high, self.low)
        set_nodelay(transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # Nothing was asked: an upstream talking out of turn cannot be trusted with the
            # next request.
            self._fail(InvalidResponse("upstream sent bytes while idle"))
            self._notify()
            return
        self.received += len(data)
        first = False
        if self.head is None:
            if self._head_bytes == 0 and not self._head_only:
                if self._take_known(data):
                    self._notify()
                    return
                first = True
            self._head_bytes += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.tunnel_data = data[int(exc.args[0]) :]
            self.upgraded = True
            if self.transport is not None:
                self.transport.pause_reading()
            self._wake()
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid response from upstream: {exc}"))
            self._notify()
            return
        # Judged after parsing (one read's worth of bytes at most): the head may end within
        # this data, the rest being body.
        if self.head is None and self._head_bytes > MAX_RESPONSE_HEAD:
            self._fail(InvalidResponse("upstream response head too large"))
        elif first and self.complete:
            self._learn(data)
        if self._changed:  # (``_notify``, inlined: once per response read)
            self._changed = False
            watcher = self.watcher
            if watcher is not None:
                watcher()

    def eof_received(self) -> bool:
        head = self.head
        if (
            self._parser is not None
            and head is not None
            and not self.complete
            and head.content_length is None
            and not head.chunked
        ):
            # A response without a length ends with the connection (RFC 9112 6.3).
            self.complete = True
            self._keep_alive = False
            self._wake()
        elif self._parser is not None and not self.complete:
            self._fail(UpstreamClosed("upstream closed the connection"))
        self._notify()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete and self.error is None:
            self.error = self._error_of(UpstreamClosed, "upstream reset the connection")
        self._wake()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback(self)
        self._notify()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- llhttp callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # Bytes after the whole response, in the same read: the upstream talks out of
            # turn (as when idle), so the connection carries no other exchange. (Without
            # this, llhttp would start on them as the next response, and a later exchange
            # would be read from the middle of that one.)
            self._dirty = True

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps a value's trailing whitespace. (Tested on the last byte as an int:
        # ``value[-1:] in b" \t"`` costs bytes.__contains__ a TypeError raised and cleared,
        # as it first tries its argument as an int, for every field of every response.)
        if value and value[-1] in _OWS:
            value = value.rstrip(b" \t")
        if self.head is None:
            self._headers.append((name.lower(), value))
        else:
            self.trailers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue, 103 Early Hints: the final response follows
            self._headers = []  # (``begin`` started the first message's list)
            return
        headers = self._headers
        content_length: int | None = None
        chunked = False
        tokens = _NO_TOKENS
        for name, value in headers:
            if name not in _FRAMING_NAMES:
                continue
            if name == b"content-length":
                content_length = int(value)  # llhttp has checked it
            elif name == b"transfer-encoding":
                chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            elif name == b"connection":
                more = _TOKENS_CACHE.get(value) or _tokens_of(value)
                tokens = more if tokens is _NO_TOKENS else tokens | more
        # What the fields allow. llhttp's yes is the same answer (it reads the Connection
        # tokens by the same rules, for HTTP/1.1 and 1.0); its no may also mean only that the
        # body runs to the connection's end, so then the rule is applied here. Asking
        # httptools for the version costs a str.format: only asked when needed.
        keep_alive = bool(parser.should_keep_alive())
        if not keep_alive:
            if parser.get_http_version() == "1.0":
                keep_alive = b"keep-alive" in tokens
            else:
                keep_alive = b"close" not in tokens
        self.head = _new_tuple(ResponseHead, (status, headers, content_length, chunked, keep_alive))
        self._headers = []  # (the head's own now)
        if self._head_only and status != 101:
            # A response to HEAD has no body whatever its fields say (RFC 9110 9.3.2);
            # llhttp cannot be told so, and any body bytes it reports make the
            # connection unusable.
            self.complete = True
            self._keep_alive = keep_alive
        # (``_wake`` inlined in the callbacks, which run for every response: on the direct
        # path nothing waits, and the watcher is told once ``feed_data`` returns)
        self._changed = True
        if self._waiter is not None:
            self._wake()

    def on_body(self, data: bytes) -> None:
        if self.complete:
            self._dirty = True
            return
        self._body.append(data)
        self.body_size += len(data)
        if self.body_size > self.high and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._changed = True
        if self._waiter is not None:
            self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.complete:
            return
        parser = self._parser
        assert parser is not None
        self.complete = True
        self._keep_alive = bool(parser.should_keep_alive())
        self._changed = True
        if self._waiter is not None:
            self._wake()

    # -- the proxy's side ------------------------------------------------------------------

    def begin(self, method: str) -> None:
        """Start an exchange: the response to a ``method`` request is read from now on."""
        parser = self._spare
        if parser is None:
            parser = httptools.HttpResponseParser(self)
        else:
            self._spare = None
        self._parser = parser
        self.head = None
        # New lists only for the ones holding fields: a head took its own with it
        # (``on_headers_complete``), and trailers go with the answer.
        if self._headers:
            self._headers = []
        self._head_bytes = 0
        self._head_only = method == "HEAD"
        self._interim = False
        self._body.clear()
        self.body_size = 0
        self.complete = False
        self._keep_alive = False
        self._dirty = False
        self.error = None
        if self.trailers:
            self.trailers = []
        self.known = False
        self.sent = 0
        self.received = 0
        self.requests += 1

    def finish(self) -> bool:
        """The exchange is over; the connection is idle (any byte now makes it unusable).

        Returns whether the connection may carry another exchange: this one ended cleanly
        and both sides allow another one.
        """
        head = self.head
        reusable = (
            not self.closed
            and self.error is None
            and not self.upgraded
            and self.complete
            and self._keep_alive
            and not self._dirty
            and head is not None
            and head.keep_alive
        )
        if reusable and self._parser is not None and not self._head_only:
            self._spare = self._parser
        self._parser = None
        return reusable

    @property
    def head_received(self) -> bool:
        return self.head is not None

    @property
    def usable(self) -> bool:
        """Idle and still open: fit to carry a request."""
        return not self.closed and self.error is None and not self.upgraded

    def write(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise self._error_of(UpstreamClosed, "upstream connection closed")
        transport.write(data)
        self.sent += len(data)

    async def drain(self, timeout: float) -> None:
        """Wait while the write buffer is above its high-water mark, up to ``timeout``."""
        while self.write_paused and not self.closed:
            waiter = self.loop.create_future()
            self._drain_waiter = waiter
            try:
                await self._wait_for(waiter, timeout, "sending the request")
            finally:
                self._drain_waiter = None
        if self.closed and self.head is None:
            raise self.error or self._error_of(UpstreamClosed, "upstream connection closed")

    async def read_head(self, timeout: float) -> ResponseHead:
        while True:
            if self.head is not None and (not self.upgraded or self.head.status == 101):
                return self.head
            if self.error is not None:
                raise self.error
            if self.upgraded:
                raise self._error_of(InvalidResponse, "upstream switched protocols unasked")
            await self._wait(timeout, "reading the response head")

    async def read_body(self, timeout: float) -> bytes:
        """The next body bytes; b"" once the body is complete."""
        while True:
            body = self._body
            if body:
                data = body.popleft() if len(body) == 1 else b"".join(body)
                body.clear()
                self.body_size = 0
                if self._read_paused and self.transport is not None and not self.closed:
                    self._read_paused = False
                    self.transport.resume_reading()
                return data
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait(timeout, "reading the response body")

    def take_body(self) -> bytes:
        """The body bytes received so far, without waiting (the watcher's ``read_body``)."""
        body = self._body
        data = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        self.body_size = 0
        if self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()
        return data

    def time_out(self, what: str) -> None:
        """Fail the exchange as timed out (the watcher's own timer ran out)."""
        self._fail(self._error_of(UpstreamTimeout, f"upstream timed out {what}"))

    def spoil(self) -> None:
        """The exchange was left half done: the connection must not carry another one."""
        self._dirty = True

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- responses seen before -------------------------------------------------------------

    def _take_known(self, data: bytes) -> bool:
        """Take ``data``, the first bytes of the exchange, as a whole response whose head is
        one llhttp has already read (``_KNOWN``), without reading it again; False (nothing
        taken) when it is not one."""
        end = data.find(b"\r\n\r\n", 0, KNOWN_HEAD_MAX) + 4
        if end < 4:
            return False
        head = _KNOWN.get(data[:end])
        if head is None or len(data) - end != head.content_length:
            return False
        # The same bytes, from the same state (a message boundary, not a HEAD's answer):
        # llhttp would say the same, and is left at the boundary where it would end.
        if end < len(data):
            self._body.append(data[end:])
            self.body_size = len(data) - end
        self.head = head
        self.known = True
        self.complete = True
        self._keep_alive = True
        self._changed = True
        if self._waiter is not None:
            self._wake()
        return True

    def _learn(self, data: bytes) -> None:
        """Remember the head of the response ``data`` was, whole, if its like may come again."""
        head = self.head
        if (
            head is None
            or self.error is not None
            or self._dirty
            or self.upgraded
            or self.trailers
            or not self._keep_alive
            or not head.keep_alive
            or head.chunked
            or head.content_length is None
            or head.content_length > self.high
            or head.status in _NO_BODY
        ):
            return
        end = len(data) - head.content_length
        # Only when ``data`` is exactly the one final response: a head and its body.
        if 4 <= end <= KNOWN_HEAD_MAX and data[end - 4 : end] == b"\r\n\r\n":
            key = data[:end]
            if key.find(b"\r\n\r\n") == end - 4:  # not an interim response's end
                remember(_KNOWN, key, head, KNOWN_MAX)

    # -- internals -------------------------------------------------------------------------

    def _error_of(self, kind: type[UpstreamError], message: str) -> UpstreamError:
        return kind(message, sent=self.sent > 0, responded=self.received > 0)

    def _fail(self, exc: UpstreamError) -> None:
        if self.error is None:
            exc.sent = self.sent > 0
            exc.responded = self.received > 0
            self.error = exc
        self._wake()
        self.abort()

    def _wake(self) -> None:
        self._changed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _notify(self) -> None:
        self._changed = False
        watcher = self.watcher
        if watcher is not None:
            watcher()

    async def _wait(self, timeout: float, what: str) -> None:
        waiter = self.loop.create_future()
        self._waiter = waiter
        try:
            await self._wait_for(waiter, timeout, what)
        finally:
            self._waiter = None

    async def _wait_for(self, waiter: asyncio.Future[None], timeout: float, what: str) -> None:
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            raise self._error_of(UpstreamTimeout, f"upstream timed out {what}") from None
        finally:
            timer.cancel()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def open_connection(
    address: Address, timeout: float, *, high: int = 64 * 1024, low: int = 16 * 1024
) -> UpstreamConnection:
    """Connect to ``address`` within ``timeout``; ConnectFailed / ConnectTimeout otherwise."""
    loop = asyncio.get_running_loop()

    def factory() -> UpstreamConnection:
        return UpstreamConnection(address, high=high, low=low)

    try:
        async with asyncio.timeout(timeout):
            if address.path is not None:
                _, conn = await loop.create_unix_connection(factory, address.path)
            else:
                _, conn = await loop.create_connection(factory, address.host, address.port)
    except TimeoutError:
        raise ConnectTimeout(f"timed out connecting to {address}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConnectFailed(f"cannot connect to {address}: {reason}") from None
    return conn
