"""RFC 9110/9112 rules as data: what a token, a host and a status line look like.

Kept in tables and precompiled patterns so the parser and the writer consult them in C speed
and a reader can check them against the RFC's grammar in one place.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from frontdesk.memo import remember

# RFC 9110 5.6.2: token = 1*tchar
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

# RFC 9110 7.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ]; an empty value is allowed.
HOST = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+(?:%25[0-9A-Za-z._~-]+)?\]|[0-9A-Za-z._~!$&'()*+,;=%\-]*)(?::[0-9]*)?\Z"
)
#: Host values already found well formed (nearly every request names one of a few); a
#: value in it needs no ``valid_host`` call
GOOD_HOSTS: dict[bytes, None] = {}


def valid_host(value: bytes) -> bool:
    """Whether ``value`` is a Host field value of the right shape (RFC 9110 7.2)."""
    if value in GOOD_HOSTS:
        return True
    if HOST.match(value) is None:
        return False
    if len(value) <= 255:
        remember(GOOD_HOSTS, value, None, 256)
    return True


# Characters a response field name or value must never carry (RFC 9110 5.5).
FORBIDDEN_IN_FIELD = re.compile(rb"[\x00\r\n]")

# RFC 9110 7.6.1: connection-specific fields never forwarded and never set by an app.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

SUPPORTED_VERSIONS = ("1.0", "1.1")

# The proxy headers an app server weighs for the client's address and scheme
# (``frontdesk.interfaces.proxy``; RFC 7239 and the de-facto X-Forwarded-* trio).
FORWARDING_FIELDS = frozenset(
    {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
# A proxy's journey fields (``frontdesk.observe.journey``): request id, start time, trace.
JOURNEY_FIELDS = frozenset({b"x-request-id", b"x-request-start", b"frontdesk-trace"})

# Statuses whose responses never carry a body (RFC 9110 6.4.1).
NO_BODY_STATUSES = frozenset({204, 304, *range(100, 200)})


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _status_lines() -> dict[int, bytes]:
    lines = {}
    for status in HTTPStatus:
        lines[int(status)] = b"HTTP/1.1 %d %s\r\n" % (status, status.phrase.encode("ascii"))
    return lines


#: b"HTTP/1.1 200 OK\r\n" and friends, built once
STATUS_LINES: dict[int, bytes] = _status_lines()


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"status {status} is not a three-digit HTTP status")
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))
    return line
