"""``PreparedHead``: a response head checked and encoded once, started many times.

``Exchange.start`` checks every field name and value and encodes the head on each call. A
head that is answered again and again (a static file's 200, a fixed error page) or whose
fields are already known to be well formed (an upstream's, parsed by llhttp) can skip that:
build a ``PreparedHead`` and start with ``Exchange.start_prepared(head, extra)``. The rules
are the same; they are applied once, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from frontdesk.errors import LocalProtocolError
from frontdesk.http.rules import status_line
from frontdesk.http.writer import CRLF, encode_fields
from frontdesk.memo import remember


def take_framing(
    status: int, headers: Iterable[Sequence[bytes]]
) -> tuple[list[tuple[bytes, bytes]], int, bool]:
    """Split the framing fields off a response's fields: (the rest, Content-Length or -1,
    whether Connection asks to close). Transfer-Encoding, Keep-Alive and Connection are the
    server's to write; a 204 never carries a Content-Length (RFC 9110 8.6)."""
    remaining = -1
    close = False
    fields: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        key = name.lower()
        if key == b"content-length":
            if status == 204:
                continue
            if not value.isdigit():
                raise LocalProtocolError(f"invalid Content-Length {value!r}")
            length = int(value)
            if remaining >= 0 and length != remaining:
                raise LocalProtocolError("differing Content-Length values")
            remaining = length
        elif key == b"connection":
            if value.lower().find(b"close") >= 0:
                close = True
        elif key != b"transfer-encoding" and key != b"keep-alive":
            fields.append((name, value))
    return fields, remaining, close


# Heads apps start again and again (the same status and fields for every request to a route):
# each is checked and encoded once. Bounded; when full it starts afresh, so a run of one-off
# heads (a cookie or an ETag per response) cannot pin the memory or keep it from adapting.
_CHECKED: dict[tuple[int, tuple[Sequence[bytes], ...]], tuple[bytes, bytes, int, bool]] = {}
_CHECKED_MAX = 512


def checked_head(status: int, headers: Iterable[Sequence[bytes]]) -> tuple[bytes, bytes, int, bool]:
    """A final response head checked as ``Exchange.start`` checks it: (status line, encoded
    fields without the framing ones, Content-Length or -1, whether Connection asks to close).

    Raises ValueError for a malformed status and LocalProtocolError for a non-final status
    or a bad field, every time: only heads that passed are remembered.
    """
    given = headers if type(headers) is tuple else tuple(headers)
    key = (status, given) if type(status) is int else None
    if key is not None:
        try:
            known = _CHECKED.get(key)
        except TypeError:  # a field given as a list, or a bytearray: not hashable
            key = None
        else:
            if known is not None:
                return known
    line = status_line(status)
    if status < 200:
        raise LocalProtocolError(f"{status} is not a final status")
    fields, remaining, close = take_framing(status, given)
    checked = (line, encode_fields(fields), remaining, close)
    if key is not None:
        remember(_CHECKED, key, checked, _CHECKED_MAX)
    return checked


class PreparedHead:
    """A final response's status line and fields, checked and encoded once, to start many
    responses with (``Exchange.start_prepared``).

    The same rules as ``Exchange.start`` apply, once, here: the status must be final, names
    tokens and values free of CR, LF and NUL; Content-Length is kept as ``length`` (-1:
    none) and written with the framing fields, Connection/Transfer-Encoding/Keep-Alive are
    dropped (``close`` records a ``Connection: close``). Immutable by convention; share it.
    """

    __slots__ = ("_fields", "block", "close", "length", "line", "status")

    status: int
    #: ``HTTP/1.1 <status> <reason>\r\n``
    line: bytes
    #: the encoded field lines (each ending in CRLF), without the framing fields
    block: bytes
    #: the declared Content-Length, or -1
    length: int
    #: a Connection field asked to close
    close: bool
    _fields: Sequence[tuple[bytes, bytes]] | None

    def __init__(self, status: int, headers: Iterable[Sequence[bytes]]) -> None:
        given = tuple((bytes(name), bytes(value)) for name, value in headers)
        fields, length, close = self._split(status, given)
        self._set(status, given, encode_fields(fields), length, close)

    @classmethod
    def encoded(
        cls,
        status: int,
        block: bytes,
        length: int,
        fields: Sequence[tuple[bytes, bytes]] | None = None,
    ) -> PreparedHead:
        """One from a field block its caller encoded from well-formed fields (each line a
        token name, ``": "``, a value without CR, LF or NUL, CRLF), without framing fields;
        ``length`` the Content-Length, or -1. Built once per response (an upstream's, from
        fields llhttp has checked): the checks are the caller's. ``fields``: the same as
        pairs, with the length, when the caller has them; else made from the block on demand.
        """
        if status < 200:
            raise LocalProtocolError(f"{status} is not a final status")
        head = cls.__new__(cls)
        head._set(status, fields, block, length, False)
        return head

    @property
    def fields(self) -> Sequence[tuple[bytes, bytes]]:
        """The fields as given (for ``encoded``: the block's, and the length), for wrappers
        that must see them (``ExchangeProxy``)."""
        if self._fields is not None:
            return self._fields
        given = block_fields(self.block)
        if self.length >= 0:
            given.append((b"content-length", b"%d" % self.length))
        self._fields = given
        return given

    @staticmethod
    def _split(
        status: int, headers: Iterable[Sequence[bytes]]
    ) -> tuple[list[tuple[bytes, bytes]], int, bool]:
        status_line(status)  # raises ValueError on a malformed status
        if status < 200:
            raise LocalProtocolError(f"{status} is not a final status")
        return take_framing(status, headers)

    def _set(
        self,
        status: int,
        given: Sequence[tuple[bytes, bytes]] | None,
        block: bytes,
        length: int,
        close: bool,
    ) -> None:
        self.status = status
        self.line = status_line(status)
        self.block = block
        self.length = length
        self.close = close
        self._fields = given


def block_fields(block: bytes) -> list[tuple[bytes, bytes]]:
    """The fields of an encoded block (lines of ``name: value`` and CRLF, as ``encoded``
    takes and ``Exchange.start_prepared``'s ``more`` lines are) as pairs."""
    pairs = [line.split(b": ", 1) for line in block.split(CRLF)[:-1]]
    return [(name, value) for name, value in pairs]
