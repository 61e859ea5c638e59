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
from frontdesk.http.rules import (
    FORWARDING_FIELDS,
    GOOD_HOSTS,
    JOURNEY_FIELDS,
    SUPPORTED_VERSIONS,
    valid_host,
)

_METHODS: dict[bytes, str] = {}

# The fields a request head is read for, by what each tells; the rest are only carried.
_HOST, _LENGTH, _CODINGS, _TE, _EXPECT, _UPGRADE, _PROXIED, _JOURNEY = range(8)
_READ_FIELDS: dict[bytes, int] = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODINGS,
    b"te": _TE,
    b"expect": _EXPECT,
    b"upgrade": _UPGRADE,
    **dict.fromkeys(FORWARDING_FIELDS, _PROXIED),
    **dict.fromkeys(JOURNEY_FIELDS, _JOURNEY),
}

# What llhttp raises to stop: an upgrade (not an error), or an error of the request or of one
# of our callbacks.
_LLHTTP_STOPS = (httptools.HttpParserUpgrade, httptools.HttpParserError)

# llhttp's reasons for a Content-Length or chunk size that does not fit in 64 bits
_OVERFLOWS = frozenset({"Content-Length overflow", "Chunk size overflow"})

# The longest read kept to be recognised when a connection sends it again (``_again``).
AGAIN_MAX = 2048
# ``RequestParser._learned`` when a read held more than one message, or one not to keep
_MANY = object()


def _new_llhttp(protocol: object) -> httptools.HttpRequestParser:
    parser = httptools.HttpRequestParser(protocol)
    # Let any digit.digit version through llhttp: on_headers_complete judges versions.
    parser.set_dangerous_leniencies(lenient_version=True)
    return parser


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
    """The request just completed asked to switch protocols.

    The bytes from ``offset`` on (in the data last fed) are not HTTP/1.1.
    """

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class RequestParser:
    """Feeds bytes to llhttp and turns its callbacks into ``Request`` events for a sink."""

    __slots__ = (
        "_again",
        "_again_request",
        "_body_seen",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_in_trailers",
        "_learned",
        "_limits",
        "_max_field_size",
        "_max_fields",
        "_max_head",
        "_max_target",
        "_parser",
        "_priming",
        "_reframe",
        "_request",
        "_sink",
        "_url",
    )

    #: the request target as received so far (one piece nearly always: b"" + piece is piece)
    _url: bytes
    #: the head's field lines; once the head is whole, the request's trailer list
    _headers: list[tuple[bytes, bytes]]

    def __init__(self, limits: HttpLimits, sink: ParserSink) -> None:
        self._limits = limits
        # Read for every request: plain attributes rather than the limits' properties.
        self._max_head = limits.max_head
        self._max_fields = limits.request_fields
        self._max_field_size = limits.request_field_size
        self._max_target = limits.request_line
        self._sink = sink
        self._parser = _new_llhttp(self)
        self._priming = False
        # In ``feed``: the request that ended the read, if it was its only message and one
        # to recognise when sent again; ``_MANY`` if not.
        self._learned: object = None
        # The last read when it was one whole request without a body, and what it parsed to
        # (``_learn``); while it is set, llhttp is between messages.
        self._again: bytes | None = None
        self._again_request: Request | None = None
        self._reset_message()
        self._request: Request | None = None
        self._reframe: bytes | None = None

    def _reset_message(self) -> None:
        """No message begun: the state ``on_message_begin`` sets, with none of its bytes yet."""
        self.on_message_begin()
        self._head_bytes = 0

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
        self._parser = _new_llhttp(self)
        self._reframe = None
        self._reset_message()

    def feed(self, data: bytes) -> None:
        """Parse ``data``.

        Raises RemoteProtocolError, or UpgradeRequested after an upgrade request.
        """
        again = self._again
        if again is not None:
            if data == again:
                self._replay()
                return
            self._again = None  # llhttp will be fed: no longer between messages
        # Nearly always the bytes fit in what a head may still grow by (or are body bytes):
        # one piece, fed whole. Otherwise ``_feed_pieces`` cuts them to size.
        fresh = False
        if self._in_head or self._in_trailers:
            size = len(data)
            if size > self._max_head - self._head_bytes:
                self._feed_pieces(data, 0)
                return
            fresh = self._head_bytes == 0 and self._in_head
            self._head_bytes += size
        self._learned = None
        try:
            self._parser.feed_data(data)
        except _LLHTTP_STOPS as exc:
            self._feed_pieces(data, self._stopped(exc, 0))
            return
        if self._in_head and self._head_bytes > self._max_head:
            raise self._head_too_large()
        if fresh and size <= AGAIN_MAX:
            # The read began between messages: if it held one whole request without a body
            # that leaves the connection open, and nothing more (``on_message_complete``
            # and ``on_message_begin`` say in ``_learned``), the same bytes again are the
            # same request. Clients send the same request again and again on one connection
            # (pollers, probes, load generators): ``_replay`` hands on the same (read-only)
            # ``Request`` without llhttp. It was judged whole (limits, Host, target,
            # version) by this parser's rules, and llhttp is back between messages, where it
            # would be after parsing those bytes again.
            learned = self._learned
            if isinstance(learned, Request):
                self._again = data
                self._again_request = learned

    def _replay(self) -> None:
        """The events llhttp would give for the bytes of ``_again``, without it."""
        request = self._again_request
        assert request is not None
        sink = self._sink
        self._in_head = False
        self._request = request
        sink.on_request(request)
        self._request = None
        self._in_head = True
        sink.on_request_complete(request)

    def _feed_pieces(self, data: bytes, offset: int) -> None:
        max_head = self._max_head
        total = len(data)
        while offset < total:
            # While a head is incomplete, feed no more than the head may still grow by, so a
            # client streaming an endless field line is cut off at a bounded memory cost.
            if self._in_head or self._in_trailers:
                room = max_head - self._head_bytes
                if room <= 0:
                    raise self._head_too_large()
                piece = data if (offset == 0 and total <= room) else data[offset : offset + room]
                self._head_bytes += len(piece)
            else:
                piece = data if offset == 0 else data[offset:]
            try:
                self._parser.feed_data(piece)
            except _LLHTTP_STOPS as exc:
                offset = self._stopped(exc, offset)
                continue
            offset += len(piece)
        if self._in_head and self._head_bytes > max_head:
            raise self._head_too_large()

    def _stopped(self, exc: Exception, offset: int) -> int:
        """llhttp stopped in the piece fed from ``offset``: raise what that means, or (an
        upgrade request whose body is read on as HTTP/1.1) return where to go on feeding."""
        if isinstance(exc, httptools.HttpParserUpgrade):
            if self._reframe is None:
                raise UpgradeRequested(offset + int(exc.args[0])) from None
            self._resume_body()
            return offset + int(exc.args[0])
        if isinstance(exc, httptools.HttpParserCallbackError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, RemoteProtocolError):
                raise cause from None
            raise exc
        assert isinstance(exc, httptools.HttpParserError)
        raise self._translate(exc) from None

    def _resume_body(self) -> None:
        # httptools hands every byte after an upgrade request's head to the new protocol,
        # body included. The body is this request's (RFC 9110 7.8: the switch comes after
        # it), so the upgrade is ignored, as a server may, and a fresh llhttp is primed with a
        # head of the same framing to read the body as HTTP/1.1; never as the next request.
        prime, self._reframe = self._reframe, None
        assert prime is not None
        self._parser = _new_llhttp(self)
        self._priming = True
        trailers, self._headers = self._headers, []  # the primer's fields go nowhere
        try:
            self._parser.feed_data(prime)
        finally:
            self._priming = False
            self._headers = trailers

    def _head_too_large(self) -> RemoteProtocolError:
        # on_url refuses a long target itself; past max_head with some target seen, the
        # bytes are in the field section.
        if not self._url:
            return RemoteProtocolError("request line too long", 414)
        return RemoteProtocolError("request header fields too large", 431)

    def _translate(self, exc: httptools.HttpParserError) -> RemoteProtocolError:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            return RemoteProtocolError("invalid or unknown method", 400)
        if isinstance(exc, httptools.HttpParserInvalidURLError):
            return RemoteProtocolError(f"invalid request target: {message}", 400)
        if message in _OVERFLOWS:
            # A well-formed length too big for 64 bits is a body over any limit (RFC 9110 8.6).
            return RemoteProtocolError("request body too large", 413)
        return RemoteProtocolError(message, 400)

    # -- llhttp callbacks (names fixed by httptools) --------------------------------------

    def on_message_begin(self) -> None:
        if self._priming:
            return
        self._url = b""
        self._headers = []
        self._in_head = True
        self._in_trailers = False
        self._body_seen = 0
        self._head_bytes = 1  # the head has begun, whatever the slicing in feed()
        if self._learned is not None:
            self._learned = _MANY  # a message ended before this one in the same read

    def on_url(self, piece: bytes) -> None:
        if self._priming:
            return
        url = self._url + piece
        if len(url) > self._max_target:
            raise RemoteProtocolError("request target too long", 414)
        self._url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        # Into the head's fields, or once the head is whole the request's trailers. Their
        # number and sizes are judged when the section is whole (``_check_fields``): until
        # then ``max_head`` bounds the memory they take.
        # llhttp drops the OWS before a value but keeps the OWS after it (RFC 9112 5).
        # (an int test: ``bytes in bytes`` first tries its operand as an int, and pays for the
        # TypeError it raises and clears, several times the cost of the test itself)
        if value and value[-1] in (32, 9):
            value = value.rstrip(b" \t")
        self._headers.append((name.lower(), value))

    def _check_fields(self, fields: list[tuple[bytes, bytes]], count: int) -> None:
        """Refuse a field section of ``count`` fields in all with one too large (431)."""
        if count > self._max_fields:
            raise RemoteProtocolError("too many header fields", 431)
        most = self._max_field_size - 2
        for name, value in fields:
            if len(name) + len(value) > most:
                raise RemoteProtocolError("header field too large", 431)

    def on_headers_complete(self) -> None:
        if self._priming:
            return
        parser = self._parser
        version = parser.get_http_version()
        if version not in SUPPORTED_VERSIONS:
            if version.startswith("1."):
                # RFC 9110 2.5: a higher minor version is processed as the highest we speak.
                version = "1.1"
            elif version.startswith("0."):
                raise RemoteProtocolError(f"unsupported HTTP version {version}", 400)
            else:
                raise RemoteProtocolError(f"HTTP version {version} not supported", 505)
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or _method_str(raw_method)
        target = self._url
        headers = self._headers

        host: bytes | None = None
        content_length: int | None = None
        chunked = False
        expect_continue = False
        upgrade: bytes | None = None
        accepts_trailers = False
        proxied = False
        journey = False
        transfer_codings: list[bytes] | None = None
        if len(headers) > self._max_fields:
            raise RemoteProtocolError("too many header fields", 431)
        most = self._max_field_size - 2  # (``_check_fields``, inline: once per request)
        read = _READ_FIELDS
        for name, value in headers:
            if len(name) + len(value) > most:
                raise RemoteProtocolError("header field too large", 431)
            kind = read.get(name)
            if kind is None:
                continue  # most fields are only carried
            if kind == _HOST:
                if host is not None:
                    raise RemoteProtocolError("more than one Host field", 400)
                host = value
            elif kind == _LENGTH:
                content_length = int(value)  # llhttp has checked it is 1*DIGIT and single
            elif kind == _CODINGS:
                if transfer_codings is None:
                    transfer_codings = []
                transfer_codings.extend(c.strip().lower() for c in value.split(b",") if c.strip())
            elif kind == _TE:
                accepts_trailers = any(
                    c.split(b";")[0].strip().lower() == b"trailers" for c in value.split(b",")
                )
            elif kind == _EXPECT:
                if value.lower() != b"100-continue":
                    raise RemoteProtocolError("unsupported expectation", 417)
                expect_continue = version == "1.1"
            elif kind == _UPGRADE:
                upgrade = value
            elif kind == _PROXIED:
                proxied = True
            else:
                journey = True

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
        elif host not in GOOD_HOSTS and not valid_host(host):
            raise RemoteProtocolError("invalid Host field", 400)

        if target and target[0] == 0x2F and method != "CONNECT" and target.find(b"#") < 0:
            path, _, query = target.partition(b"?")  # origin-form, as nearly all are
        else:
            path, query = self._split_target(method, target)

        body_limit = self._limits.request_body
        if body_limit and content_length is not None and content_length > body_limit:
            raise RemoteProtocolError("request body too large", 413)

        keep_alive = bool(parser.should_keep_alive())
        if upgrade is not None and not parser.should_upgrade():
            upgrade = None  # an Upgrade field without "Connection: upgrade" asks for nothing
        elif upgrade is not None and (chunked or content_length):
            upgrade = None  # see _resume_body
            framing = (
                b"transfer-encoding: chunked"
                if chunked
                else b"content-length: %d" % (content_length or 0)
            )
            self._reframe = b"POST / HTTP/1.1\r\nhost: x\r\n" + framing + b"\r\n\r\n"

        self._in_head = False
        trailers: list[tuple[bytes, bytes]] = []  # (given: a default factory costs a call)
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
            proxied,
            journey,
            trailers,
        )
        self._request = request
        self._headers = trailers  # what on_header gets from now on
        self._sink.on_request(request)

    @staticmethod
    def _split_target(method: str, target: bytes) -> tuple[bytes, bytes]:
        # RFC 9112 3.2: origin-form for all but CONNECT and OPTIONS *; absolute-form accepted.
        if method == "CONNECT":
            raise RemoteProtocolError("CONNECT is not supported", 501)
        if target[:1] == b"/":
            if target.find(b"#") >= 0:
                raise RemoteProtocolError("fragment in request target", 400)
            path, _, query = target.partition(b"?")
            return path, query
        if target == b"*":
            if method != "OPTIONS":
                raise RemoteProtocolError("asterisk-form target is only for OPTIONS", 400)
            return b"*", b""
        try:
            url = httptools.parse_url(target)
        except httptools.HttpParserInvalidURLError:
            raise RemoteProtocolError("invalid request target", 400) from None
        if not url.schema or url.fragment or url.userinfo:
            # RFC 9110 4.2.4: userinfo in an http(s) target is an error.
            raise RemoteProtocolError("invalid request target", 400)
        return url.path or b"/", url.query or b""

    def on_chunk_header(self) -> None:
        # A chunk's data (on_body) follows, unless it is the last chunk: then the trailer
        # section does, which httptools buffers whole, so it is bounded like a head.
        self._in_trailers = True
        self._head_bytes = 0

    def on_chunk_complete(self) -> None:
        self._in_trailers = False

    def on_body(self, data: bytes) -> None:
        self._in_trailers = False
        limit = self._limits.request_body
        if limit:
            self._body_seen += len(data)
            if self._body_seen > limit:
                raise RemoteProtocolError("request body too large", 413)
        self._sink.on_body(data)

    def on_message_complete(self) -> None:
        if self._reframe is not None:
            return  # llhttp ends the upgrade request at its head; its body is still to come
        request = self._request
        self._request = None
        self._in_head = True
        self._head_bytes = 0
        if request is not None:
            trailers = request.trailers
            if trailers:
                self._check_fields(trailers, len(request.headers) + len(trailers))
            if (
                self._learned is None
                and request.keep_alive
                and request.upgrade is None
                and not request.chunked
                and not request.content_length
                and not trailers
            ):
                self._learned = request  # the first message of the read: see ``feed``
            else:
                self._learned = _MANY
            self._sink.on_request_complete(request)
