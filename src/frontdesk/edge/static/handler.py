"""``StaticFiles``: a core ``Handler`` serving a directory under a URL prefix (nginx's role).

One request, in order: the method (GET and HEAD only), the path made safe (``paths``), the
lookup through the descriptor cache (``cache``) with the resolved path checked to lie under
the resolved root, directories (a slash redirect, then index files), the representation
(a precompressed sibling by Accept-Encoding, ``encoding``), the preconditions
(``conditional``), the ranges (``ranges``), then the body through the core's
``Exchange.sendfile``. Everything before the body runs inline in ``handle``; only a body
that needs to await (a large file, several ranges) gets a task.

A file's plain 200 answer is kept ready (``_Ready``: its fields, and the bytes of a small
file) for as long as its cache entry is valid, keyed by the raw request path: a GET or HEAD
of that path without conditional, range or trace fields (nor Accept-Encoding when the file
has precompressed siblings) is answered from it, with no path parsing, lookup, stat, read
or field building. Whatever ends the entry's validity (its ``valid`` period, a change, an
eviction, the root's re-resolution) sends the next request the full way, which prepares it
again.

So every response head starts inside ``handle``: the edge's ``Server-Timing`` entry is the
time from ``handle`` to that start, and a trusted peer's ``Frontdesk-Trace: 1`` gets the
edge's trace field naming the file served (``frontdesk.edge.filters.journey``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import BinaryIO, cast

from frontdesk.edge.filters.journey import (
    TIMING_LINE,
    TRACE,
    timing_entry,
    trace_asked,
    trace_field,
)
from frontdesk.edge.static import mime
from frontdesk.edge.static.cache import (
    DIRECTORY,
    FILE,
    FORBIDDEN,
    MISSING,
    SPECIAL,
    Entry,
    FileCache,
    FileView,
)
from frontdesk.edge.static.conditional import Conditions, evaluate, if_range_holds
from frontdesk.edge.static.encoding import CODINGS, choose_coding
from frontdesk.edge.static.httpdate import format_http_date
from frontdesk.edge.static.paths import Located, MountPoint, PathRefused, encode_path, inside
from frontdesk.edge.static.ranges import ByteRange, multipart, parse_range
from frontdesk.errors import ClientDisconnected, ConfigError, LocalProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.http.prepared import PreparedHead
from frontdesk.http.rules import reason_phrase
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.memo import remember

log = logging.getLogger("frontdesk.edge.static")

#: bodies up to this size are read with one pread and written with the head (one write, no
#: task); larger ones go through ``Exchange.sendfile``
INLINE_MAX = 16 * 1024

_ALLOW = (b"allow", b"GET, HEAD")
_TEXT = b"text/plain; charset=utf-8"
_VARY = (b"vary", b"Accept-Encoding")
_ACCEPT_RANGES = (b"accept-ranges", b"bytes")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_SUFFIX_TAG = {"br": b"br", "gzip": b"gz"}
_FIELDS = frozenset(
    {
        b"accept-encoding",
        b"if-match",
        b"if-modified-since",
        b"if-none-match",
        b"if-range",
        b"if-unmodified-since",
        b"range",
    }
)

# Request fields that take a request off the ready path (Accept-Encoding: only for a file
# with precompressed siblings).
_NOT_READY = (_FIELDS - {b"accept-encoding"}) | {TRACE}
#: ready answers kept per route (a small file's bytes are part of its answer)
READY_MAX = 256

Headers = list[tuple[bytes, bytes]]


class _Ready:
    """A file's 200 answer, prepared while its cache entry stays valid."""

    __slots__ = ("body", "entry", "expires", "head", "sized_head", "vary")

    def __init__(
        self,
        entry: Entry,
        fields: Headers,
        size: int,
        body: bytes | None,
        vary: bool,
        expires: float,
    ) -> None:
        self.entry = entry
        #: the head of a GET answer with ``body`` (the core adds its Content-Length), its
        #: fields checked and encoded once (raises LocalProtocolError on a bad field)
        self.head = PreparedHead(200, fields)
        #: the head with Content-Length (HEAD, and a body sent by sendfile)
        self.sized_head = PreparedHead(200, [*fields, (b"content-length", b"%d" % size)])
        #: the whole file when small; None: sent from the descriptor
        self.body = body
        self.vary = vary
        self.expires = expires


class StaticFiles:
    """Serve the files under ``root`` at URL ``prefix``; see the package docstring."""

    def __init__(
        self,
        prefix: str,
        root: str | os.PathLike[str],
        *,
        alias: bool = False,
        index: tuple[str, ...] = ("index.html",),
        cache_control: str | None = None,
        follow_symlinks_outside: bool = False,
        precompressed: bool = True,
        nosniff: bool = True,
        max_ranges: int = 100,
        file_cache: FileCache | None = None,
        server_timing: bool = True,
        trusted: TrustedProxies | None = None,
    ) -> None:
        self.mount = MountPoint(prefix, root, alias=alias)
        if not os.path.isdir(self.mount.directory):
            raise ConfigError(f"static root {root!r} is not a directory")
        for name in index:
            if not name or name in (".", "..") or "/" in name or "\x00" in name:
                raise ConfigError(f"index file name {name!r} is not a plain file name")
        if max_ranges < 1:
            raise ConfigError("max_ranges must be at least 1")
        self.index = index
        self.follow_symlinks_outside = follow_symlinks_outside
        self.precompressed = precompressed
        self.max_ranges = max_ranges
        self.cache = file_cache if file_cache is not None else FileCache()
        extra: Headers = []
        if cache_control is not None:
            if not cache_control.isascii() or not cache_control.isprintable():
                raise ConfigError(f"cache_control {cache_control!r} must be printable ASCII")
            extra.append((b"cache-control", cache_control.encode("ascii")))
        self._cache_fields = extra
        self._nosniff = nosniff
        #: add ``Server-Timing: edge;dur=<ms>`` to every answer
        self.server_timing = server_timing
        #: peers whose ``Frontdesk-Trace: 1`` is answered (the X-Forwarded-* rule)
        self.trusted = trusted if trusted is not None else TrustedProxies()
        self._root_real = ""
        self._root_expires = float("-inf")
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready: dict[bytes, _Ready] = {}
        #: requests answered from a ready answer (a statistic for tests and metrics)
        self.ready_answers = 0

    def matches(self, path: bytes) -> bool:
        """Whether the request path (raw, percent-encoded) is under this route's prefix."""
        return self.mount.matches(path)

    def close(self) -> None:
        """Close the cached descriptors (those in use close when their response ends)."""
        self._ready.clear()
        self.cache.close()

    # -- the request -----------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> None:
        received = exchange.received  # the edge's span starts when the head was parsed
        request = exchange.request
        try:
            ready = self._ready.get(request.path)
            if ready is not None and self._send_ready(exchange, received, ready):
                return
            self._handle(exchange, received, retried=False)
        except ClientDisconnected:
            pass  # gone before its answer: nothing to send, nothing held

    def _send_ready(self, exchange: Exchange, received: float, ready: _Ready) -> bool:
        """Answer from ``ready`` if the request and the entry allow it; False if not."""
        request = exchange.request
        method = request.method
        if (method != "GET" and method != "HEAD") or not ready.entry.cached:
            return False
        if self.cache.clock() >= ready.expires:
            del self._ready[request.path]
            return False
        vary = ready.vary
        for name, _ in request.headers:
            if name in _NOT_READY or (vary and name == b"accept-encoding"):
                return False
        body = ready.body
        head = ready.sized_head if method == "HEAD" or body is None else ready.head
        fd = -1
        if body is None and method == "GET":
            try:
                fd = self.cache.acquire(ready.entry)
            except OSError:
                return False  # the full way says why
        more = b""
        if self.server_timing:
            spent = time.perf_counter() - received
            more = TIMING_LINE % (spent * 1000.0 if spent > 0.0 else 0.0)
        self.ready_answers += 1
        if fd < 0:
            exchange.respond(head, b"" if body is None else body, more)
            return True
        try:
            exchange.start_prepared(head, more=more)
        except BaseException:
            self.cache.release(ready.entry)
            raise
        entry = ready.entry
        self._spawn(exchange, entry, fd, ((b"", ByteRange(0, entry.size - 1)),), b"")
        return True

    def _start(
        self,
        exchange: Exchange,
        received: float,
        status: int,
        headers: Headers,
        served: str | None = None,
    ) -> None:
        """Start the response, with the edge's journey fields."""
        if self.server_timing:
            headers.append((b"server-timing", timing_entry(time.perf_counter() - received)))
        request = exchange.request
        if trace_asked(request.headers):
            peer = exchange.client
            if self.trusted.is_trusted(None if peer is None else peer[0]):
                headers.append(trace_field(self.mount.prefix, static=served))
        exchange.start(status, headers)

    def _plain(
        self, exchange: Exchange, received: float, status: int, extra: Headers | None = None
    ) -> None:
        """A short text answer (errors, redirects)."""
        body = b"%d %s\n" % (status, reason_phrase(status))
        headers: Headers = [(b"content-type", _TEXT)]
        if extra:
            headers.extend(extra)
        self._start(exchange, received, status, headers)
        exchange.end(body)

    def _handle(self, exchange: Exchange, received: float, *, retried: bool) -> None:
        request = exchange.request
        if request.method != "GET" and request.method != "HEAD":
            self._plain(exchange, received, 405, [_ALLOW])
            return
        try:
            located = self.mount.locate(request.path)
        except PathRefused as refused:
            self._plain(exchange, received, refused.status)
            return
        entry = self._lookup(located.fs_path)
        name = located.segments[-1] if located.segments else ""
        if entry.kind == DIRECTORY:
            if not located.trailing_slash:
                self._redirect_to_directory(exchange, received, located)
                return
            index = self._index(located.fs_path)
            if index is None:
                # No listing of directories (nginx without autoindex answers 403 too).
                self._plain(exchange, received, 403)
                return
            entry, name = index
        elif entry.kind == FILE and located.trailing_slash:
            self._plain(exchange, received, 404)  # "file.txt/" names nothing, as ENOTDIR says
            return
        if entry.kind == FILE:
            self._serve(exchange, received, entry, name, retried=retried)
        else:
            self._plain(exchange, received, _status_for(entry))

    def _root(self) -> str:
        """The root, resolved; resolved again every ``valid`` seconds, so a root behind a
        symlink that a deploy swaps (``current -> releases/42``) is followed."""
        now = self.cache.clock()
        if now >= self._root_expires:
            self._root_real = os.path.realpath(self.mount.directory)
            self._root_expires = now + self.cache.valid
        return self._root_real

    def _lookup(self, fs_path: str) -> Entry:
        entry = self.cache.lookup(fs_path)
        if (
            entry.kind != MISSING
            and not self.follow_symlinks_outside
            and not inside(entry.real, self._root())
        ):
            # A symlink out of the root: the same answer as a missing file.
            return Entry(fs_path, entry.real, MISSING, None)
        return entry

    def _index(self, directory: str) -> tuple[Entry, str] | None:
        for name in self.index:
            entry = self._lookup(directory + "/" + name)
            if entry.kind == FILE:
                return entry, name
        return None

    def _redirect_to_directory(self, exchange: Exchange, received: float, located: Located) -> None:
        # Rebuilt from the checked segments, so it never starts with "//" (an open redirect).
        location = encode_path(located.segments, True)
        query = exchange.request.query
        if query:
            location += b"?" + query
        self._plain(exchange, received, 301, [(b"location", location)])

    def _siblings(self, entry: Entry) -> tuple[tuple[str, Entry], ...]:
        found = []
        for coding, suffix in CODINGS:
            sibling = self._lookup(entry.path + suffix)
            if sibling.kind == FILE:
                found.append((coding, sibling))
        return tuple(found)

    # -- the response ----------------------------------------------------------------------

    def _serve(
        self, exchange: Exchange, received: float, entry: Entry, name: str, *, retried: bool
    ) -> None:
        request = exchange.request
        fields = _request_fields(request.headers)
        is_get = request.method == "GET"
        range_values = fields.get(b"range") if is_get else None
        siblings = self._siblings(entry) if self.precompressed else ()
        chosen, coding, fd = entry, None, -1
        # A Range request gets the identity file: byte ranges of a sibling would be ranges
        # of another representation (ETags differ, so If-Range can never splice the two).
        if siblings and range_values is None:
            accept = fields.get(b"accept-encoding")
            coding = choose_coding(
                b", ".join(accept) if accept else None, tuple(c for c, _ in siblings)
            )
            for sibling_coding, sibling in siblings:
                if sibling_coding == coding:
                    try:
                        fd = self.cache.acquire(sibling)
                        chosen = sibling
                    except OSError:
                        coding = None  # unreadable sibling: fall back to the file itself
        if fd < 0:
            try:
                fd = self.cache.acquire(entry)
            except OSError as exc:
                self._plain(exchange, received, 403 if isinstance(exc, PermissionError) else 404)
                return
        handed_off = False
        try:
            handed_off = self._respond(
                exchange, received, fields, chosen, fd, coding, bool(siblings), name, retried
            )
        finally:
            if not handed_off:
                self.cache.release(chosen)

    def _respond(
        self,
        exchange: Exchange,
        received: float,
        fields: dict[bytes, list[bytes]],
        entry: Entry,
        fd: int,
        coding: str | None,
        vary: bool,
        name: str,
        retried: bool,
    ) -> bool:
        """Answer from an acquired descriptor; True when a task took it over (and releases it)."""
        request = exchange.request
        now = int(time.time())
        etag = _etag(entry, coding)
        last_modified = min(entry.mtime_ns // 1_000_000_000, now)  # never in the future
        headers: Headers = [(b"etag", etag), (b"last-modified", format_http_date(last_modified))]
        if vary:
            headers.append(_VARY)
        headers.extend(self._cache_fields)
        conditions = Conditions(
            if_match=_joined(fields, b"if-match"),
            if_none_match=_joined(fields, b"if-none-match"),
            if_modified_since=_single(fields, b"if-modified-since"),
            if_unmodified_since=_single(fields, b"if-unmodified-since"),
        )
        status = evaluate(conditions, request.method, etag, last_modified, now)
        if status is not None:
            if status == 304:
                self._start(exchange, received, 304, headers, entry.path)
                exchange.end()
            else:
                self._plain(exchange, received, status)
            return False
        size = entry.size
        headers.append(_ACCEPT_RANGES)
        if self._nosniff:
            headers.append(_NOSNIFF)
        content_type = mime.content_type(name)
        if coding is not None:
            headers.append((b"content-encoding", coding.encode("ascii")))
        ranges: tuple[ByteRange, ...] | None = None
        range_values = fields.get(b"range") if request.method == "GET" else None
        if range_values is not None and len(range_values) == 1:
            if_range = fields.get(b"if-range")
            # Several If-Range fields are malformed: a full answer is the safe reading.
            if if_range is None or (
                len(if_range) == 1 and if_range_holds(if_range[0], etag, last_modified, now)
            ):
                ranges = parse_range(range_values[0], size, self.max_ranges)
        if ranges == ():
            self._plain(
                exchange, received, 416, [*headers, (b"content-range", b"bytes */%d" % size)]
            )
            return False
        if ranges is not None and len(ranges) > 1:
            layout = multipart(ranges, size, content_type)
            headers.append((b"content-type", layout.content_type))
            headers.append((b"content-length", b"%d" % layout.length))
            self._start(exchange, received, 206, headers, entry.path)
            self._spawn(exchange, entry, fd, layout.parts, layout.tail)
            return True
        headers.append((b"content-type", content_type))
        if ranges is None:
            status, part = 200, ByteRange(0, size - 1)
        else:
            status, part = 206, ranges[0]
            headers.append((b"content-range", part.content_range(size)))
        count = part.length
        # Kept ready: a plain 200 whose Last-Modified is the file's own (a date capped at now
        # would have to move on with the clock).
        ready = (
            status == 200 and coding is None and last_modified == entry.mtime_ns // 1_000_000_000
        )
        ready_fields = list(headers) if ready else headers
        headers.append((b"content-length", b"%d" % count))
        if request.method == "HEAD" or count == 0:
            self._start(exchange, received, status, headers, entry.path)
            exchange.end()
            return False
        if count > INLINE_MAX:
            if ready and request.method == "GET":
                self._keep_ready(request.path, entry, ready_fields, count, None, vary)
            self._start(exchange, received, status, headers, entry.path)
            self._spawn(exchange, entry, fd, ((b"", part),), b"")
            return True
        data = os.pread(fd, count, part.first)
        if len(data) != count:
            # Truncated since it was looked up: look again (once) rather than lie.
            self.cache.invalidate(entry)
            if retried:
                self._plain(exchange, received, 503, [(b"retry-after", b"1")])
            else:
                self._handle(exchange, received, retried=True)
            return False
        if ready:
            self._keep_ready(request.path, entry, ready_fields, count, data, vary)
        self._start(exchange, received, status, headers, entry.path)
        exchange.end(data)
        return False

    def _keep_ready(
        self,
        path: bytes,
        entry: Entry,
        fields: Headers,
        size: int,
        body: bytes | None,
        vary: bool,
    ) -> None:
        if not entry.cached:
            return  # caching is off, or the entry is already being replaced
        expires = min(entry.expires, self._root_expires)
        try:
            ready = _Ready(entry, fields, size, body, vary, expires)
        except LocalProtocolError:
            return  # a field the core refuses: the full way answers (and says why)
        remember(self._ready, path, ready, READY_MAX)

    def _spawn(
        self,
        exchange: Exchange,
        entry: Entry,
        fd: int,
        parts: Sequence[tuple[bytes, ByteRange]],
        tail: bytes,
    ) -> None:
        loop = exchange.server_set.loop
        task = loop.create_task(self._send(exchange, entry, fd, parts, tail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self,
        exchange: Exchange,
        entry: Entry,
        fd: int,
        parts: Sequence[tuple[bytes, ByteRange]],
        tail: bytes,
    ) -> None:
        view = cast(BinaryIO, FileView(fd))
        try:
            for head, part in parts:
                if head:
                    exchange.write(head)
                # A file cut short under the response raises LocalProtocolError (the core
                # checks the count it sent against the count the framing promised).
                await exchange.sendfile(view, part.first, part.length)
            exchange.end(tail)
        except ClientDisconnected:
            pass
        except (LocalProtocolError, OSError) as exc:
            log.warning("static file %s: %s; closing the connection", entry.path, exc)
            self.cache.invalidate(entry)
            exchange.abort()
        finally:
            self.cache.release(entry)


# -- helpers -------------------------------------------------------------------------------


def _status_for(entry: Entry) -> int:
    """The answer for a path that is not a servable file."""
    if entry.kind == FORBIDDEN:
        return 403
    if entry.kind == MISSING or entry.kind == SPECIAL:
        return 404  # FIFOs, sockets and devices are never served
    return 500  # the lookup failed in an unexpected way (EIO...)


def _etag(entry: Entry, coding: str | None) -> bytes:
    """``"<hex mtime ns>-<hex size>"``, nginx's shape with nanoseconds, so an edit of the same
    size within one second still changes it; a sibling's tag also names its coding."""
    if coding is None:
        return b'"%x-%x"' % (entry.mtime_ns, entry.size)
    return b'"%x-%x-%s"' % (entry.mtime_ns, entry.size, _SUFFIX_TAG[coding])


def _request_fields(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        if name in _FIELDS:
            found.setdefault(name, []).append(value)
    return found


def _joined(fields: dict[bytes, list[bytes]], name: bytes) -> bytes | None:
    values = fields.get(name)
    return None if values is None else b", ".join(values)


def _single(fields: dict[bytes, list[bytes]], name: bytes) -> bytes | None:
    """A date field's value; several fields make it invalid, so ignored (RFC 9110 13.1.3)."""
    values = fields.get(name)
    return values[0] if values is not None and len(values) == 1 else None
