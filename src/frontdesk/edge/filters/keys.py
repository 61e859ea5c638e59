"""What per-client filters count by: the client's address, unless told otherwise."""

from __future__ import annotations

from collections.abc import Callable

from frontdesk.http.exchange import Exchange

#: Maps an exchange to the key its client is counted under; None exempts the request.
ClientKey = Callable[[Exchange], str | None]


def client_address(exchange: Exchange) -> str | None:
    """The peer's IP address; None on a unix socket (a local peer, not limited).

    It is the connection's peer, not a proxy header: the edge faces clients directly.
    """
    client = exchange.client
    return client[0] if client is not None else None
