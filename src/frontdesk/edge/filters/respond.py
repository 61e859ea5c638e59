"""The short answers filters give when they refuse a request."""

from __future__ import annotations

from collections.abc import Sequence

from frontdesk.errors import ClientDisconnected
from frontdesk.http.exchange import Exchange
from frontdesk.http.rules import reason_phrase

TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")


def refuse(
    exchange: Exchange,
    status: int,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer ``status`` with a one-line text body; nothing if the client has already gone.

    The request body is not read: the core then ends the connection after the answer, which
    is what a refused upload should cost.
    """
    if exchange.disconnected or exchange.started:
        return
    reason = reason_phrase(status).decode("latin-1")
    body = f"{status} {reason}: {message}\n".encode()
    try:
        exchange.start(status, [TEXT_PLAIN, *headers])
        exchange.end(body)
    except ClientDisconnected:
        pass
