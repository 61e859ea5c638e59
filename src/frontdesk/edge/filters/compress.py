"""Response compression (nginx's ``gzip`` and ``brotli`` modules), invisible to the handler.

The handler answers as usual through a ``CompressingExchange``. A response is compressed
when all of these hold:

- the request is not HEAD, and the status is not 1xx, 204, 206 (a range of the identity
  representation) or 304;
- the response has no Content-Encoding of its own and no ``Cache-Control: no-transform``;
- its Content-Type matches the configured media types (``negotiate.DEFAULT_TYPES``);
- the client's Accept-Encoding accepts br or gzip (q-values honoured; ties go to br);
- the body is at least ``min_size`` bytes. A declared Content-Length decides that at
  ``start``; without one the decision waits for the first body bytes: a whole body given at
  once to ``end`` is measured, a body that starts streaming is compressed.

``Vary: Accept-Encoding`` is added to every response that could have been compressed (its
form depends on that field even when this client got identity). A compressed response loses
its Content-Length (the core then uses the compressed length when the whole body is known at
once, else chunked framing) and Accept-Ranges, and a strong ETag becomes weak, as in nginx.

Streaming: each ``write`` is compressed and flushed at once, so a client can decode every
piece as it arrives and nothing is held back; memory per response is the compressor's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import BinaryIO

from frontdesk.edge.filters.encoders import Encoder, available_codings, make_encoder
from frontdesk.edge.filters.negotiate import DEFAULT_TYPES, MediaTypes, choose_coding
from frontdesk.edge.filters.proxy import ExchangeProxy, Fields
from frontdesk.errors import LocalProtocolError
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange
from frontdesk.http.prepared import PreparedHead
from frontdesk.http.rules import status_line
from frontdesk.http.writer import encode_fields
from frontdesk.memo import remember

_UNCOMPRESSIBLE_STATUSES = frozenset({204, 206, 304})
_VARY = (b"vary", b"accept-encoding")
_VARY_LINE = b"vary: accept-encoding\r\n"
_FILE_PIECE = 64 * 1024

# What the proxy does with the body: pass it as is, wait for the first bytes to decide, or
# compress it.
_PASS, _DEFER, _COMPRESS = range(3)


class CompressionFilter:
    """Compresses ``inner``'s responses where it pays (see the module docstring)."""

    def __init__(
        self,
        inner: Handler,
        *,
        min_size: int = 256,
        types: Iterable[str] = DEFAULT_TYPES,
        codings: Sequence[str] | None = None,
        gzip_level: int = 6,
        brotli_quality: int = 4,
    ) -> None:
        self.inner = inner
        self.min_size = min_size
        self.types = MediaTypes(types)
        usable = available_codings()
        #: the codings offered, most preferred first (br only where brotli is installed)
        self.codings = tuple(c for c in (codings or usable) if c in usable)
        self.gzip_level = gzip_level
        self.brotli_quality = brotli_quality
        self._codings_for: dict[bytes, str] = {}
        self._identity_heads: dict[PreparedHead, tuple[bool, PreparedHead]] = {}

    def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        if request.method == "HEAD":
            self.inner.handle(exchange)
            return
        accept: bytes | None = None
        for name, value in request.headers:
            if name == b"accept-encoding":
                # Several fields are one list (RFC 9110 5.3): joined, they parse the same.
                accept = value if accept is None else accept + b"," + value
        coding = None if accept is None else self._coding(accept)
        self.inner.handle(CompressingExchange(exchange, self, coding).as_exchange())

    def _coding(self, accept: bytes) -> str | None:
        """``choose_coding`` for an Accept-Encoding value, remembered: clients send the
        same few values with every request (a browser's ``gzip, deflate, br``)."""
        known = self._codings_for.get(accept)
        if known is not None:
            return known or None
        coding = choose_coding([accept], self.codings)
        if len(accept) <= 256:
            remember(self._codings_for, accept, coding or "", 256)  # ("": identity)
        return coding

    def encoder(self, coding: str) -> Encoder:
        return make_encoder(coding, self.gzip_level, self.brotli_quality)

    def identity_head(self, head: PreparedHead) -> tuple[bool, PreparedHead]:
        """Whether responses with ``head`` may be compressed, and the head they go out with
        when they are not: ``head`` itself, or with Vary joined to its block (a line known to
        be well formed, rather than an extra field the core would check and encode each
        time). Remembered per head: a handler answers from the same few prepared heads."""
        known = self._identity_heads.get(head)
        if known is None:
            eligible, varies = _inspect(head.status, head.fields, self.types)
            identity = head
            if eligible and not varies:
                block = head.block + _VARY_LINE
                identity = PreparedHead.encoded(
                    head.status, block, head.length, [*head.fields, _VARY]
                )
            known = remember(self._identity_heads, head, (eligible, identity), 256)
        return known


def _lists(value: bytes, token: bytes) -> bool:
    """Whether a list-valued field's ``value`` holds ``token`` (or ``*``)."""
    return any(item.strip() in (token, b"*") for item in value.lower().split(b","))


def _inspect(
    status: int, fields: Sequence[tuple[bytes, bytes]], types: MediaTypes
) -> tuple[bool, bool]:
    """In one pass: whether a response may be compressed, and whether its Vary already
    names Accept-Encoding."""
    if status < 200 or status in _UNCOMPRESSIBLE_STATUSES:
        return False, False
    content_type: bytes | None = None
    varies = False
    no_transform = False
    for name, value in fields:
        key = name.lower()
        if key == b"content-type":
            if content_type is None:
                content_type = value
        elif key == b"content-encoding":
            return False, False
        elif key == b"cache-control":
            no_transform = no_transform or _lists(value, b"no-transform")
        elif key == b"vary":
            varies = varies or _lists(value, b"accept-encoding")
    if no_transform or content_type is None:
        return False, varies
    return types.matches(content_type), varies


class CompressingExchange(ExchangeProxy):
    """The exchange a compressed handler sees: its body goes through an ``Encoder``."""

    __slots__ = (
        "_coding",
        "_config",
        "_declared",
        "_encoder",
        "_fields",
        "_mode",
        "_sent",
        "_status",
        "_trailers",
    )

    def __init__(self, inner: Exchange, config: CompressionFilter, coding: str | None) -> None:
        ExchangeProxy.__init__(self, inner)  # (named, not super(): cheaper, once a request)
        self._config = config
        self._coding = coding
        self._mode = _PASS
        self._encoder: Encoder | None = None
        # The response head, held while the decision waits for the first body bytes.
        self._status = 0
        self._fields: Fields = []
        self._trailers = False
        # The app's own Content-Length (it is dropped when compressing, so held here).
        self._declared = -1
        self._sent = 0

    # -- state seen by the handler -----------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._mode == _DEFER or self.inner.started

    @property
    def status(self) -> int:
        return self._status if self._mode == _DEFER else self.inner.status

    @property
    def coding(self) -> str | None:
        """The coding applied to the body, once decided (None: identity)."""
        return self._coding if self._mode == _COMPRESS else None

    # -- the response ------------------------------------------------------------------------

    def start(
        self, status: int, headers: Iterable[Sequence[bytes]], *, trailers: bool = False
    ) -> None:
        if self.started:
            raise LocalProtocolError("response already started")
        fields = [(bytes(name), bytes(value)) for name, value in headers]
        eligible, varies = _inspect(status, fields, self._config.types)
        if not eligible:
            self.inner.start(status, fields, trailers=trailers)
            return
        if not varies:
            fields.append(_VARY)
        length = self._content_length(fields)
        if self._coding is None or (length is not None and length < self._config.min_size):
            self.inner.start(status, fields, trailers=trailers)
            return
        if length is None:
            # Refused now if the head is malformed, as the core would, not at the first write.
            status_line(status)
            encode_fields(fields)
            self._status, self._fields, self._trailers = status, fields, trailers
            self._mode = _DEFER
            return
        self._declared = length
        self._begin(status, fields, trailers)

    def start_prepared(
        self,
        head: PreparedHead,
        extra: Fields | None = None,
        *,
        trailers: bool = False,
        more: bytes = b"",
    ) -> None:
        # A response left as it is (not compressible, no coding accepted, or too small by
        # its declared length) starts from the prepared head itself, with Vary added where
        # due: its fields are not checked and encoded a second time.
        if self._mode == _DEFER or self.inner.started or extra or head.close:  # (``started``)
            ExchangeProxy.start_prepared(self, head, extra, trailers=trailers, more=more)
            return
        eligible, identity = self._config.identity_head(head)
        if eligible and self._coding is not None and not 0 <= head.length < self._config.min_size:
            ExchangeProxy.start_prepared(self, head, trailers=trailers, more=more)  # to compress
        else:
            self.inner.start_prepared(identity, trailers=trailers, more=more)

    def respond(self, head: PreparedHead, body: bytes, more: bytes = b"") -> None:
        # A whole body: left as it is (as ``start_prepared`` and ``end`` would leave it), it
        # goes to the inner exchange's ``respond`` in one call. ``more``'s lines are the
        # edge's own (id, timing, trace): none of them bears on compression.
        if self._mode == _PASS and not self.inner.started and not head.close:
            eligible, identity = self._config.identity_head(head)
            size = head.length if head.length >= 0 else len(body)
            if not (eligible and self._coding is not None and size >= self._config.min_size):
                self.inner.respond(identity, body, more)
                return
        ExchangeProxy.respond(self, head, body, more)

    @staticmethod
    def _content_length(fields: Fields) -> int | None:
        for name, value in fields:
            if name.lower() == b"content-length" and value.strip().isdigit():
                return int(value)
        return None

    def _begin(self, status: int, fields: Fields, trailers: bool) -> None:
        """Start the inner response as compressed: the body's fields now describe the coding."""
        coding = self._coding
        assert coding is not None
        out: Fields = []
        for name, value in fields:
            key = name.lower()
            if key in (b"content-length", b"accept-ranges"):
                continue
            if key == b"etag" and not value.startswith(b"W/"):
                value = b"W/" + value  # the same entity, but no longer byte-for-byte
            out.append((name, value))
        out.append((b"content-encoding", coding.encode("ascii")))
        self.inner.start(status, out, trailers=trailers)
        self._encoder = self._config.encoder(coding)
        self._mode = _COMPRESS

    def _undefer(self, compress: bool) -> None:
        status, fields, trailers = self._status, self._fields, self._trailers
        self._fields = []
        if compress:
            self._begin(status, fields, trailers)
        else:
            self._mode = _PASS
            self.inner.start(status, fields, trailers=trailers)

    def _count(self, size: int) -> None:
        self._sent += size
        if 0 <= self._declared < self._sent:
            self.inner.abort()
            raise LocalProtocolError("response body longer than its Content-Length")

    def write(self, data: bytes) -> None:
        if self._mode == _DEFER:
            if not data:
                return
            self._undefer(True)  # a body that streams: compressed, whatever its size
        if self._mode == _PASS:
            self.inner.write(data)
            return
        if data:
            self._count(len(data))
            assert self._encoder is not None
            out = self._encoder.compress(data)
            if out:
                self.inner.write(out)

    def end(self, data: bytes = b"", trailers: Fields | None = None) -> None:
        if self._mode == _DEFER:
            # The whole body is here: a small one is not worth a coding.
            self._undefer(len(data) >= self._config.min_size)
        if self._mode == _PASS:
            self.inner.end(data, trailers)
            return
        self._count(len(data))
        if self._sent < self._declared:
            # Fewer bytes than the app declared: the client must see the body cut short,
            # not a well-formed compressed stream.
            self.inner.abort()
            return
        assert self._encoder is not None
        self.inner.end(self._encoder.finish(data), trailers)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        if self._mode == _DEFER:
            if count == 0:
                return
            self._undefer(count >= self._config.min_size)
        if self._mode == _PASS:
            await self.inner.sendfile(file, offset, count)
            return
        # Compression needs the bytes: read and compress in pieces, under back-pressure.
        file.seek(offset)
        while count > 0:
            data = file.read(min(count, _FILE_PIECE))
            if not data:
                raise LocalProtocolError("file shorter than the length being sent")
            count -= len(data)
            self.write(data)
            await self.inner.drain()
