"""``start_response`` and the body rules of PEP 3333, independent of how bytes reach the client.

- The status is ``"200 OK"``-shaped: three digits (a final status, 200-999), a space, a reason
  without control characters. Header fields are a list of ``(str, str)`` tuples: the name an
  HTTP token, the value latin-1 with no CR, LF or NUL; hop-by-hop fields (Connection,
  Transfer-Encoding, Keep-Alive, ...) are the server's and refused (PEP 3333 "Other HTTP
  Features"). Every refusal is raised by ``start_response`` itself, in the app's frame.
- ``start_response`` may be called again only with ``exc_info``; once the head has gone out,
  that call re-raises the app's exception.
- The head goes out with the first non-empty body bytes, or at the end of the response.
- No more than a declared Content-Length is sent: the excess is cut off (logged) and the
  iterable is not asked for more. A 204 or 304 sends no body at all.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

from frontdesk.http.prepared import PreparedHead
from frontdesk.http.rules import HOP_BY_HOP
from frontdesk.memo import remember

if TYPE_CHECKING:
    from frontdesk.interfaces.wsgi.types import ExcInfo, Head, Sink, Write

log = logging.getLogger("frontdesk.wsgi")

# Three digits, one space, a reason of visible characters, spaces, tabs and obs-text.
_STATUS: Final = re.compile(r"([1-9][0-9][0-9]) [^\x00-\x08\x0a-\x1f\x7f]*\Z")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_FORBIDDEN: Final = re.compile(r"[\x00\r\n]")
_NO_BODY: Final = frozenset({204, 304})


def parse_status(status: object) -> int:
    if type(status) is not str:
        raise TypeError(f"WSGI status must be a str, not {type(status).__name__}")
    match = _STATUS.match(status)
    if match is None:
        raise ValueError(f"WSGI status must look like '200 OK', got {status!r}")
    code = int(match.group(1))
    if code < 200:
        raise ValueError(f"WSGI status must be a final status (200-999), got {status!r}")
    return code


# Field lines seen before, checked: (name, value) -> (the encoded field line, the declared
# Content-Length or -1). Apps send the same few again and again; the cache is bounded and holds
# short values only. Only exact (str, str) tuples are looked up: a look-alike (a str subclass
# equal to a checked value) must pass the checks itself, and so is refused.
_CHECKED: dict[tuple[str, str], tuple[bytes, int]] = {}
_CHECKED_MAX: Final = 1024
_CHECKED_VALUE: Final = 256

# Whole heads seen before: (status, *headers) -> (code, head, declared length). Most apps answer
# with a few heads again and again, so the usual start_response is one lookup, then a check that
# the items are exact types: entries are made from exact str statuses and exact (str, str)
# tuples only, and an exact tuple of exact strs equal to one of them is the same head. A head
# with a long value is not remembered (Set-Cookie and friends differ on every response anyway).
_HEADS: dict[tuple[object, ...], tuple[int, PreparedHead, int]] = {}
_HEADS_MAX: Final = 256
_HEADS_FIELDS: Final = 32


def _check_header(item: object) -> tuple[bytes, int]:
    if not isinstance(item, tuple) or len(item) != 2:
        raise TypeError(f"a WSGI header must be a (name, value) tuple, got {item!r}")
    name, value = item
    if type(name) is not str or type(value) is not str:
        raise TypeError(f"WSGI header names and values must be str, got {item!r}")
    if _TOKEN.match(name) is None:
        raise ValueError(f"invalid response header name {name!r}")
    if _FORBIDDEN.search(value) is not None:
        raise ValueError(f"response header {name} has CR, LF or NUL in its value")
    key = name.lower().encode("ascii")
    if key in HOP_BY_HOP:
        raise ValueError(f"hop-by-hop header {name!r} is the server's to send, not the app's")
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"response header {name} is not latin-1: {value!r}") from None
    if key == b"content-length":
        if not (raw.isdigit() and len(raw) <= 19):
            raise ValueError(f"invalid Content-Length {value!r}")
        # Not a line of the block: the exchange writes it with the other framing fields.
        return b"", int(raw)
    return name.encode("ascii") + b": " + raw + b"\r\n", -1


def encode_headers(headers: object) -> tuple[bytes, int, bool]:
    """The field lines without Content-Length, encoded (``PreparedHead.block``), the declared
    Content-Length (-1 for none), and whether the head may be remembered (every field an exact
    ``(str, str)`` tuple with a short value); raises on a bad field."""
    if not isinstance(headers, list):
        raise TypeError(f"WSGI response headers must be a list, not {type(headers).__name__}")
    lines: list[bytes] = []
    length = -1
    memorable = True
    for item in headers:
        checked = None
        if type(item) is tuple and len(item) == 2 and type(item[0]) is type(item[1]) is str:
            checked = _CHECKED.get(item)
            if checked is None:
                checked = _check_header(item)
                if len(item[1]) <= _CHECKED_VALUE:
                    remember(_CHECKED, item, checked, _CHECKED_MAX)
                else:
                    memorable = False
        else:
            checked = _check_header(item)  # a tuple subclass, or refused
            memorable = False
        line, declared = checked
        if declared >= 0:
            if length >= 0 and declared != length:
                raise ValueError("differing Content-Length values")
            length = declared
        else:
            lines.append(line)
    return b"".join(lines), length, memorable


def prepare_head(status: object, headers: object) -> tuple[int, PreparedHead, int]:
    """The status code, the head checked and encoded, and the declared Content-Length (-1 for
    none), of a ``start_response(status, headers)``, remembered in ``_HEADS`` when it may be;
    raises on a bad status or field."""
    code = parse_status(status)
    block, length, memorable = encode_headers(headers)
    # A 204 never carries a Content-Length (RFC 9110 8.6); a 304's is kept, as it was sent.
    head = PreparedHead.encoded(code, block, -1 if code == 204 else length)
    prepared = (code, head, length)
    if (
        memorable
        and type(status) is str
        and isinstance(headers, list)
        and len(headers) <= _HEADS_FIELDS
    ):
        remember(_HEADS, (status, *headers), prepared, _HEADS_MAX)
    return prepared


class Response:
    """One request's response as the app describes it through ``start_response``.

    Lives on the thread that calls the app; what it sends goes through its ``Sink``.
    """

    __slots__ = ("_sink", "declared", "excess", "head", "head_sent", "remaining", "status")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        #: the final status code; None until start_response is called
        self.status: int | None = None
        #: the head as start_response gave it, checked and encoded
        self.head: PreparedHead | None = None
        #: body bytes still allowed (declared length, or 0 for 204/304); -1 when unbounded
        self.remaining = -1
        #: the app gave a Content-Length
        self.declared = False
        #: the app went past what may be sent: ask the iterable for no more
        self.excess = False
        self.head_sent = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Write:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response called a second time without exc_info")
        known = None
        if type(headers) is list and type(status) is str:
            try:
                known = _HEADS.get((status, *headers))
            except TypeError:  # an unhashable item: prepare_head's checks refuse it
                pass
            if known is not None:
                for item in headers:
                    # Equal to an entry and exact, so the same head (see _HEADS).
                    if (
                        type(item) is not tuple
                        or type(item[0]) is not str
                        or type(item[1]) is not str
                    ):
                        known = None
                        break
        code, head, length = known or prepare_head(status, headers)
        self.status = code
        self.head = head
        self.declared = length >= 0
        self.remaining = 0 if code in _NO_BODY else length
        return self.write

    def take_head(self) -> Head | None:
        """The head, the first time the response sends anything; None afterwards."""
        if self.head_sent:
            return None
        head = self.head
        if head is None:
            raise RuntimeError("the WSGI application did not call start_response")
        self.head_sent = True
        return head

    def declare_length(self, length: int) -> None:
        """The whole body is known: frame it with a length rather than chunks."""
        if self.remaining < 0 and not self.head_sent:
            head = self.head
            if head is not None:  # the same fields, and the length (there was none)
                self.head = PreparedHead.encoded(head.status, head.block, length)
            self.remaining = length
            self.declared = True

    def body(self, item: Any) -> bytes:
        """A body chunk checked and cut to what may still be sent."""
        if type(item) is bytes:
            data: bytes = item
        elif isinstance(item, (bytearray, memoryview)):
            data = bytes(item)
        else:
            raise TypeError(f"a WSGI body chunk must be bytes, not {type(item).__name__}")
        remaining = self.remaining
        if remaining >= 0:
            size = len(data)
            if size > remaining:
                if self.declared and not self.excess and self.status not in _NO_BODY:
                    log.warning(
                        "WSGI application sent more than its Content-Length; the rest is dropped"
                    )
                self.excess = True
                data = data[:remaining]
                size = remaining
            self.remaining = remaining - size
        return data

    def write(self, data: bytes) -> None:
        """PEP 3333's legacy ``write()``: send ``data`` now, before the iterable's bytes."""
        if self.status is None:
            raise RuntimeError("write() called before start_response")
        data = self.body(data)
        if data:
            self._sink.write(self.take_head(), data)
