"""The access log: one line per completed request, on the logger ``frontdesk.access``.

The line, shared by the app server and the edge so that both layers read alike::

    127.0.0.1 - "GET /path?q HTTP/1.1" 200 1234 0.0012s rid=4f2c9a

client address (after trusted proxy resolution; ``-`` when unknown), the request line as
sent, the final status (``-`` when none was sent: the client left first), response body bytes,
total duration in seconds, and the request id (``-`` without one). Request targets are
client-chosen: a quote, a backslash or a byte outside printable ASCII is escaped (``\\xNN``),
so a line can never be forged or split.

Records go through the process's logging set-up (stderr, or ``--log-file``, reopened on
SIGUSR1). ``enable_access_log()`` sets the logger to INFO, so access lines are written even
when ``--log-level`` hides other INFO records. Nothing here runs for a request unless the
access log is on: callers check their own flag first.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["ACCESS_LOGGER", "access_line", "access_log", "enable_access_log", "safe_text"]

ACCESS_LOGGER: Final = "frontdesk.access"

#: the access logger; write through ``access_log.info(line)``
access_log: Final = logging.getLogger(ACCESS_LOGGER)

# Printable ASCII but for the quote and the backslash, which escaping itself uses.
_SAFE: Final = re.compile(rb"[ !#-\[\]-~]*")


def safe_text(raw: bytes) -> str:
    """``raw`` as printable ASCII: ``"``, ``\\`` and other bytes written as ``\\xNN``."""
    if _SAFE.fullmatch(raw) is not None:
        return raw.decode("ascii")
    return "".join(
        chr(byte) if 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C) else f"\\x{byte:02x}"
        for byte in raw
    )


def access_line(
    client: str | None,
    method: str,
    target: bytes | str,
    http_version: str,
    status: int,
    sent: int,
    duration: float,
    request_id: str | None,
) -> str:
    """One access log line; ``status`` 0 means no response was sent, ``duration`` is seconds.

    ``http_version`` is "1.0" or "1.1" (as ``Request.version``). ``request_id`` must already
    be safe to print (``frontdesk.observe.journey`` only keeps ids that are).
    """
    if isinstance(target, str):
        target = target.encode("latin-1", "backslashreplace")
    return (
        f'{client or "-"} - "{method} {safe_text(target)} HTTP/{http_version}" '
        f"{status or '-'} {sent} {duration:.4f}s rid={request_id or '-'}"
    )


def enable_access_log() -> None:
    """Let access lines through whatever ``--log-level`` says for other records."""
    access_log.setLevel(logging.INFO)
