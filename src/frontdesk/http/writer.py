"""Response heads, chunk framing, and the core's own short error answers."""

from __future__ import annotations

from frontdesk.errors import LocalProtocolError
from frontdesk.http.rules import TOKEN, reason_phrase, status_line

CRLF = b"\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
SERVER_FIELD = b"server: frontdesk\r\n"
CHUNKED_FIELD = b"transfer-encoding: chunked\r\n"
CLOSE_FIELD = b"connection: close\r\n"
KEEP_ALIVE_FIELD = b"connection: keep-alive\r\n"

# Field names an app sends again and again; checked once, then trusted by identity of value.
_VALID_NAMES: set[bytes] = set()


def check_name(name: bytes) -> None:
    if name in _VALID_NAMES:
        return
    if TOKEN.match(name) is None:
        raise LocalProtocolError(f"invalid response header name {name!r}")
    if len(_VALID_NAMES) < 1024:
        _VALID_NAMES.add(name)


def encode_fields(fields: list[tuple[bytes, bytes]]) -> bytes:
    """``name: value`` lines; refuses names that are not tokens and CR, LF or NUL in values."""
    if not fields:
        return b""
    parts = []
    for name, value in fields:
        check_name(name)
        parts.append(name + b": " + value + CRLF)
    block = b"".join(parts)
    # Each line holds exactly one CR and one LF, its terminator; any other is an injection.
    count = len(fields)
    if block.count(b"\n") != count or block.count(b"\r") != count or block.find(b"\x00") >= 0:
        raise LocalProtocolError("CR, LF or NUL in a response header value")
    return block


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def last_chunk(trailers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    if not trailers:
        return LAST_CHUNK
    return b"0\r\n" + encode_fields(trailers) + CRLF


def informational(status: int, fields: list[tuple[bytes, bytes]]) -> bytes:
    """A 1xx interim response (100 Continue, 103 Early Hints)."""
    if not 100 <= status < 200 or status == 101:
        raise LocalProtocolError(f"{status} is not an interim status")
    return status_line(status) + encode_fields(fields) + CRLF


def error_response(status: int, message: str, date_field: bytes, *, server: bool = True) -> bytes:
    """A complete, closing response for a request the core refuses itself."""
    phrase = reason_phrase(status).decode("ascii")
    text = f"{status} {phrase}: {message}\n" if message else f"{status} {phrase}\n"
    body = text.encode("utf-8", "replace")
    return b"".join(
        (
            status_line(status),
            date_field,
            SERVER_FIELD if server else b"",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            CLOSE_FIELD,
            CRLF,
            body,
        )
    )
