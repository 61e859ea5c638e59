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
            if b"close" in value.lower():
                close = True
        elif key != b"transfer-encoding" and key != b"keep-alive":
            fields.append((name, value))
    return fields, remaining, close


class PreparedHead:
    """A final response's status line and fields, checked and encoded once, to start many
    responses with (``Exchange.start_prepared``).

    The same rules as ``Exchange.start`` apply, once, here: the status must be final, names
    tokens and values free of CR, LF and NUL; Content-Length is kept as ``length`` (-1:
    none) and written with the framing fields, Connection/Transfer-Encoding/Keep-Alive are
    dropped (``close`` records a ``Connection: close``). Immutable by convention; share it.
    """

    __slots__ = ("block", "close", "fields", "length", "line", "status")

    status: int
    #: ``HTTP/1.1 <status> <reason>\r\n``
    line: bytes
    #: the encoded field lines (each ending in CRLF), without the framing fields
    block: bytes
    #: the declared Content-Length, or -1
    length: int
    #: a Connection field asked to close
    close: bool
    #: the fields as given, for wrappers that must see them (``ExchangeProxy``)
    fields: Sequence[tuple[bytes, bytes]]

    def __init__(self, status: int, headers: Iterable[Sequence[bytes]]) -> None:
        given = tuple((bytes(name), bytes(value)) for name, value in headers)
        fields, length, close = self._split(status, given)
        self._set(status, given, encode_fields(fields), length, close)

    @classmethod
    def from_checked(cls, status: int, headers: Sequence[tuple[bytes, bytes]]) -> PreparedHead:
        """Build one per response from fields already known to be well formed, skipping the
        name and value checks: names are tokens and values hold no CR, LF or NUL, as in
        fields parsed by llhttp (an upstream's response). Framing fields are still taken out.
        """
        head = cls.__new__(cls)
        fields, length, close = cls._split(status, headers)
        block = b"".join([name + b": " + value + CRLF for name, value in fields])
        head._set(status, tuple(headers), block, length, close)
        return head

    @classmethod
    def encoded(
        cls, status: int, block: bytes, length: int, fields: Sequence[tuple[bytes, bytes]]
    ) -> PreparedHead:
        """One from a field block its caller encoded from well-formed fields (each line a
        token name, ``": "``, a value without CR, LF or NUL, CRLF) and without framing
        fields; ``length`` the Content-Length, or -1. ``fields``: the same fields as pairs.
        """
        if status < 200:
            raise LocalProtocolError(f"{status} is not a final status")
        head = cls.__new__(cls)
        head._set(status, fields, block, length, False)
        return head

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
        given: Sequence[tuple[bytes, bytes]],
        block: bytes,
        length: int,
        close: bool,
    ) -> None:
        self.status = status
        self.line = status_line(status)
        self.block = block
        self.length = length
        self.close = close
        self.fields = given
