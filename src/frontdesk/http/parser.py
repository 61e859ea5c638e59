"""httptools (llhttp) wrapped into validated ``Request`` objects, with RFC 9112 strictness on top.

llhttp already refuses most framing attacks (CL with TE, duplicate or non-numeric
Content-Length, bad chunk sizes, obs-fold, bare CR/LF, control characters, whitespace before
the colon). This layer adds what it lets through or leaves to the server: the limits,
chunked on HTTP/1.0, transfer codings we cannot decode, Host presence and shape, request-target
form per method, versions, and ``Expect``. Every refusal is a ``RemoteProtocolError`` carrying
its status; the connection answers it and closes.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from frontdesk.errors import RemoteProtocolError
from frontdesk.http.limits import HttpLimits
from frontdesk.http.request import Request
from frontdesk.http.rules import HOST, SUPPORTED_VERSIONS

_METHODS: dict[bytes, str] = {}


def _method_str(raw: bytes) -> str:
    # A handful of methods repeat forever; decode each once.
    method = _METHODS.get(raw)
    if method is None:
        method = raw.decode("ascii")
        if len(_METHODS) < 64:
            _METHODS[raw] = method
    return method


class ParserSink(Protocol):
    """Where parsed events go: the connection that owns the parser."""

    def on_request(self, request: Request) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_request_complete(self, request: Request) -> None: ...


class UpgradeRequested(Exception):
    """The request just completed asked to switch protocols; bytes from ``offset`` are not HTTP/1.1."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class RequestParser:
    """Feeds bytes to llhttp and turns its callbacks into ``Request`` events for a sink."""

    __slots__ = (
        "_body_seen",
        "_field_count",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_limits",
        "_parser",
        "_request",
        "_sink",
        "_url",
        "_url_len",
    )

    def __init__(self, limits: HttpLimits, sink: ParserSink) -> None:
        self._limits = limits
        self._sink = sink
        self._parser = httptools.HttpRequestParser(self)
        self._reset_message()
        self._request: Request | None = None

    def _reset_message(self) -> None:
        self._url: list[bytes] = []
        self._url_len = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._field_count = 0
        self._in_head = True
        self._head_bytes = 0
        self._body_seen = 0

    @property
    def in_head(self) -> bool:
        """True while a request head is being read (or awaited)."""
        return self._in_head

    @property
    def head_started(self) -> bool:
        """True when some bytes of the next request head have arrived."""
        return self._in_head and self._head_bytes > 0

    def reset(self) -> None:
        """Start afresh after a refused upgrade: llhttp stays in its upgraded state otherwise."""
        self._parser = httptools.HttpRequestParser(self)
        self._reset_message()

    def feed(self, data: bytes) -> None:
        """Parse ``data``. Raises RemoteProtocolError, or UpgradeRequested after an upgrade request."""
        max_head = self._limits.max_head
        offset = 0
        total = len(data)
        while offset < total:
            # While a head is incomplete, feed no more than the head may still grow by, so a
            # client streaming an endless field line is cut off at a bounded memory cost.
            if self._in_head:
                room = max_head - self._head_bytes
                if room <= 0:
                    raise self._head_too_large()
                piece = data if (offset == 0 and total <= room) else data[offset : offset + room]
                self._head_bytes += len(piece)
            else:
                piece = data if offset == 0 else data[offset:]
            try:
                self._parser.feed_data(piece)
            except httptools.HttpParserUpgrade as exc:
                raise UpgradeRequested(offset + int(exc.args[0])) from None
            except httptools.HttpParserCallbackError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, RemoteProtocolError):
                    raise cause from None
                raise
            except httptools.HttpParserError as exc:
                raise self._translate(exc) from None
            offset += len(piece)
        if self._in_head and self._head_bytes > max_head:
            raise self._head_too_large()

    def _head_too_large(self) -> RemoteProtocolError:
        if not self._headers and self._field_count == 0:
            return RemoteProtocolError("request line too long", 414)
        return RemoteProtocolError("request header fields too large", 431)

    def _translate(self, exc: httptools.HttpParserError) -> RemoteProtocolError:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            return RemoteProtocolError("invalid or unknown method", 400)
        if isinstance(exc, httptools.HttpParserInvalidURLError):
            return RemoteProtocolError(f"invalid request target: {message}", 400)
        return RemoteProtocolError(message, 400)

    # -- llhttp callbacks (names fixed by httptools) --------------------------------------

    def on_message_begin(self) -> None:
        self._reset_message()
        self._head_bytes = 1  # the head has begun, whatever the slicing in feed()

    def on_url(self, piece: bytes) -> None:
        self._url_len += len(piece)
        if self._url_len > self._limits.request_line:
            raise RemoteProtocolError("request target too long", 414)
        self._url.append(piece)

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self._limits
        self._field_count += 1
        if self._field_count > limits.request_fields:
            raise RemoteProtocolError("too many header fields", 431)
        if len(name) + len(value) + 2 > limits.request_field_size:
            raise RemoteProtocolError("header field too large", 431)
        if self._in_head:
            self._headers.append((name.lower(), value))
        elif self._request is not None:
            self._request.trailers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        version = parser.get_http_version()
        if version not in SUPPORTED_VERSIONS:
            if version.startswith("1.") or version.startswith("0."):
                raise RemoteProtocolError(f"unsupported HTTP version {version}", 400)
            raise RemoteProtocolError(f"HTTP version {version} not supported", 505)
        method = _method_str(parser.get_method())
        target = b"".join(self._url) if len(self._url) != 1 else self._url[0]
        headers = self._headers

        host: bytes | None = None
        content_length: int | None = None
        chunked = False
        expect_continue = False
        upgrade: bytes | None = None
        accepts_trailers = False
        transfer_codings: list[bytes] = []
        for name, value in headers:
            # Only a few names matter to framing; compare the first byte before the whole name.
            first = name[:1]
            if first == b"h" and name == b"host":
                if host is not None:
                    raise RemoteProtocolError("more than one Host field", 400)
                host = value
            elif first == b"c" and name == b"content-length":
                content_length = int(value)  # llhttp has checked it is 1*DIGIT and single
            elif first == b"t":
                if name == b"transfer-encoding":
                    transfer_codings.extend(
                        c.strip().lower() for c in value.split(b",") if c.strip()
                    )
                elif name == b"te":
                    accepts_trailers = any(
                        c.split(b";")[0].strip().lower() == b"trailers" for c in value.split(b",")
                    )
            elif first == b"e" and name == b"expect":
                if value.lower() != b"100-continue":
                    raise RemoteProtocolError("unsupported expectation", 417)
                expect_continue = version == "1.1"
            elif first == b"u" and name == b"upgrade":
                upgrade = value

        if transfer_codings:
            if version == "1.0":
                raise RemoteProtocolError("Transfer-Encoding on HTTP/1.0", 400)
            if transfer_codings[-1] != b"chunked":
                raise RemoteProtocolError("final transfer coding is not chunked", 400)
            if len(transfer_codings) != 1:
                # e.g. "gzip, chunked": well-formed, but we decode no coding but chunked
                raise RemoteProtocolError("transfer coding not implemented", 501)
            chunked = True

        if host is None:
            if version == "1.1":
                raise RemoteProtocolError("missing Host field", 400)
            host = b""
        elif HOST.match(host) is None:
            raise RemoteProtocolError("invalid Host field", 400)

        path, query = self._split_target(method, target)

        body_limit = self._limits.request_body
        if body_limit and content_length is not None and content_length > body_limit:
            raise RemoteProtocolError("request body too large", 413)

        keep_alive = bool(parser.should_keep_alive())
        if upgrade is not None and not parser.should_upgrade():
            upgrade = None  # an Upgrade field without "Connection: upgrade" asks for nothing

        self._in_head = False
        request = Request(
            method,
            target,
            path,
            query,
            version,
            headers,
            host,
            keep_alive,
            content_length,
            chunked,
            expect_continue,
            upgrade,
            accepts_trailers,
        )
        self._request = request
        self._sink.on_request(request)

    @staticmethod
    def _split_target(method: str, target: bytes) -> tuple[bytes, bytes]:
        # RFC 9112 3.2: origin-form for all but CONNECT and OPTIONS *; absolute-form accepted.
        if target[:1] == b"/":
            if b"#" in target:
                raise RemoteProtocolError("fragment in request target", 400)
            path, _, query = target.partition(b"?")
            return path, query
        if target == b"*":
            if method != "OPTIONS":
                raise RemoteProtocolError("asterisk-form target is only for OPTIONS", 400)
            return b"*", b""
        if method == "CONNECT":
            raise RemoteProtocolError("CONNECT is not supported", 501)
        try:
            url = httptools.parse_url(target)
        except httptools.HttpParserInvalidURLError:
            raise RemoteProtocolError("invalid request target", 400) from None
        if not url.schema or url.fragment:
            raise RemoteProtocolError("invalid request target", 400)
        return url.path or b"/", url.query or b""

    def on_body(self, data: bytes) -> None:
        limit = self._limits.request_body
        if limit:
            self._body_seen += len(data)
            if self._body_seen > limit:
                raise RemoteProtocolError("request body too large", 413)
        self._sink.on_body(data)

    def on_message_complete(self) -> None:
        request = self._request
        self._request = None
        self._in_head = True
        self._head_bytes = 0
        if request is not None:
            self._sink.on_request_complete(request)
