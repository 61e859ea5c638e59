"""A switched-protocol connection (WebSocket) tunnelled as bytes between client and upstream.

After the upstream answers 101, both transports are handed to a pair of ``TunnelSide``
protocols that copy bytes across. Flow control is end to end: when one side's write buffer
is above its high-water mark, reading from the other side pauses until it drains. An end of
stream is passed on as a half-close (the peer may still answer, as a WebSocket closing
handshake does); once both directions have ended, or either transport is lost, both close.

The client side joins the server's connection set, so graceful shutdown waits for it (up to
its bound) and the sweep enforces ``idle_timeout``: a tunnel with no bytes either way for
that long is closed, like nginx's proxy_read_timeout on an upgraded connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from frontdesk.http.connection import ConnectionSet


class Tunnel:
    """The two sides and their shared idle deadline."""

    __slots__ = ("client", "idle_timeout", "last_activity", "loop", "upstream")

    def __init__(self, idle_timeout: float, server_set: ConnectionSet | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle_timeout = idle_timeout
        self.last_activity = self.loop.time()
        self.client = TunnelSide(self, server_set)
        self.upstream = TunnelSide(self, None)
        self.client.peer = self.upstream
        self.upstream.peer = self.client

    def close(self) -> None:
        self.client.abort()
        self.upstream.abort()


class TunnelSide(asyncio.Protocol):
    """One end of a tunnel; also a ``ServerConnection`` when it is the client's end."""

    __slots__ = ("_eof", "closed", "peer", "server_set", "transport", "tunnel", "write_paused")

    def __init__(self, tunnel: Tunnel, server_set: ConnectionSet | None) -> None:
        self.tunnel = tunnel
        self.server_set = server_set
        self.peer: TunnelSide | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._eof = False
        #: this side's write buffer is above its high-water mark (the peer is not read)
        self.write_paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.server_set is not None:
            self.server_set.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.tunnel.last_activity = self.tunnel.loop.time()
        peer = self.peer
        if peer is None or peer.transport is None or peer.closed:
            return
        peer.transport.write(data)

    def eof_received(self) -> bool:
        self._eof = True
        peer = self.peer
        if peer is None or peer.closed or peer.transport is None:
            return False
        if peer._eof:
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True  # the other direction may still carry bytes
        peer.transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.server_set is not None:
            self.server_set.connections.discard(self)
        peer = self.peer
        if peer is not None and not peer.closed and peer.transport is not None:
            if exc is None:
                peer.transport.close()  # what was written still goes out
            else:
                peer.transport.abort()

    def pause_writing(self) -> None:
        self.write_paused = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.resume_reading()

    # -- ServerConnection ------------------------------------------------------------------

    def check_deadline(self, now: float) -> None:
        tunnel = self.tunnel
        if tunnel.idle_timeout > 0 and now - tunnel.last_activity > tunnel.idle_timeout:
            tunnel.close()

    def close_if_idle(self) -> bool:
        return False  # a tunnel carries a live session; shutdown waits, then aborts it

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()
