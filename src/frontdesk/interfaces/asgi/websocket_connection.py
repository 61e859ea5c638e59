"""An accepted WebSocket: the asyncio protocol that drives websockets' Sans-I/O state machine.

After the 101 response the HTTP/1.1 connection hands its transport to a ``WebSocketConnection``
(``Exchange.switch_protocol``). Bytes from the network go into ``ServerProtocol.receive_data``;
the frames it yields are assembled into whole ASGI ``websocket.receive`` messages; whatever the
protocol wants written (pongs, close echoes, the end of the stream) is flushed after every step.

Invariants:
- everything runs on the connection's event loop; the protocol object is touched nowhere else;
- ``_flush`` runs after every call into the protocol, so queued bytes never wait for an event;
- the app sees ``websocket.disconnect`` exactly when no more messages can arrive: a close frame
  was received, the connection was failed, or the transport was lost; from then on ``receive``
  returns it forever and sending raises ``ClientDisconnected``;
- reading pauses while ``max_queue`` messages wait for the app (back-pressure), but never once
  we have sent a close frame: from then on data is dropped and the peer's close must get in;
- the server closes TCP first (RFC 6455 7.1.1): once the protocol asks for the end of the
  stream we half-close, and a timer bounds how long a silent peer can keep the socket.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, cast

from websockets.frames import Close, Frame, Opcode
from websockets.protocol import OPEN

from frontdesk.errors import ClientDisconnected

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

    from frontdesk.http.connection import ConnectionSet
    from frontdesk.interfaces.asgi.types import Message
    from frontdesk.interfaces.asgi.websocket import WebSocketOptions

log = logging.getLogger("frontdesk.asgi.websocket")

#: RFC 6455 5.5: a control frame's payload is at most 125 bytes, 2 of them the close code
MAX_CLOSE_REASON = 123

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class WebSocketConnection(asyncio.Protocol):
    """One open WebSocket; joins the server's connection set so shutdown closes it with 1012."""

    __slots__ = (
        "_byte_parts",
        "_close_handle",
        "_closing",
        "_decoder",
        "_disconnect",
        "_drain_waiters",
        "_messages",
        "_ping_handle",
        "_ping_payload",
        "_ping_sent",
        "_pong_handle",
        "_read_paused",
        "_readable",
        "_text_parts",
        "closed",
        "loop",
        "options",
        "protocol",
        "server_set",
        "transport",
        "write_paused",
    )

    def __init__(
        self,
        protocol: ServerProtocol,
        options: WebSocketOptions,
        server_set: ConnectionSet | None,
    ) -> None:
        self.protocol = protocol
        self.options = options
        self.server_set = server_set
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.write_paused = False
        self._messages: deque[Message] = deque()
        self._readable = asyncio.Event()
        self._disconnect: Message | None = None
        self._read_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        #: we (app or server) started the close: data arriving from now on is dropped
        self._closing = False
        # The message being assembled from its frames: text is decoded frame by frame, so
        # invalid UTF-8 fails the connection as soon as it arrives (RFC 6455 8.1).
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text_parts: list[str] = []
        self._byte_parts: list[bytes] = []
        self._ping_handle: asyncio.TimerHandle | None = None
        self._pong_handle: asyncio.TimerHandle | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._ping_sent = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        server = self.server_set
        if server is not None:
            server.connections.add(self)
        if self.options.ping_interval > 0:
            self._schedule_ping(self.options.ping_interval)
        if server is not None and server.draining:
            self.close_if_idle()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):  # always, once OPEN: handshake events come earlier
                self._on_frame(event)
        self._flush()
        self._settle()

    def eof_received(self) -> bool:
        # The peer will send no more: after a closing handshake that is the normal end; before
        # one, the protocol fails the connection (1006). Either way our half ends too.
        self.protocol.receive_eof()
        self._flush()
        self._settle()
        if self.transport is not None:
            self.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.server_set is not None:
            self.server_set.connections.discard(self)
        self._cancel_timers()
        self.protocol.receive_eof()  # idempotent; moves the protocol to CLOSED
        self.protocol.data_to_send()  # nowhere to write it now
        self._settle()
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(ClientDisconnected("client disconnected"))

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- server connection set (``frontdesk.http.connection.ServerConnection``) -----------

    def check_deadline(self, now: float) -> None:
        """Nothing to do: keepalive and close timeouts run on their own loop timers."""

    def close_if_idle(self) -> bool:
        """For shutdown: start a closing handshake with 1012 (Service Restart); True once closed."""
        if self.closed:
            return True
        if self.protocol.state is OPEN:
            self._send_close(1012, "server shutting down")
        return False

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- the app's side --------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ``websocket.receive`` message, then ``websocket.disconnect`` forever."""
        while True:
            messages = self._messages
            if messages:
                message = messages.popleft()
                if self._read_paused and len(messages) <= self.options.max_queue // 4:
                    self._resume_reading()
                return message
            if self._disconnect is not None:
                return dict(self._disconnect)
            self._readable.clear()
            await self._readable.wait()

    async def send(self, data: str | bytes) -> None:
        """Send one text or binary message; waits while the write buffer is above its mark."""
        self._check_open()
        if isinstance(data, str):
            self.protocol.send_text(data.encode("utf-8"))
        else:
            self.protocol.send_binary(data)
        self._flush()
        await self._drain()

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake with the app's code and reason."""
        self._check_open()
        self._send_close(code, reason)
        await self._drain()

    def close_after_app(self, code: int) -> None:
        """The app returned (1000) or raised (1011) without closing: close for it."""
        if not self.closed and self.protocol.state is OPEN:
            self._send_close(code, "")

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed or self._disconnect is not None or self.protocol.state is not OPEN:
            raise ClientDisconnected("WebSocket is closed")

    def _send_close(self, code: int, reason: str) -> None:
        encoded = reason.encode("utf-8")
        if len(encoded) > MAX_CLOSE_REASON:
            reason = encoded[:MAX_CLOSE_REASON].decode("utf-8", "ignore")
        try:
            self.protocol.send_close(code, reason)
        except Exception as exc:  # websockets.exceptions.ProtocolError: a code RFC 6455 forbids
            raise ValueError(f"cannot close a WebSocket with code {code!r}: {exc}") from None
        # Data arriving from now on is dropped, and the peer's close must be read.
        self._closing = True
        self._abandon_message()
        self._resume_reading()
        self._stop_keepalive()
        self._flush()

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
            self._on_data(frame)
        elif opcode is Opcode.PONG:
            self._on_pong(bytes(frame.data))
        # PING: the protocol queued the pong itself; CLOSE: it echoed the frame and recorded
        # the code, which ``_settle`` turns into the app's disconnect.

    def _on_data(self, frame: Frame) -> None:
        if self._closing:
            return  # after our close frame, data is dropped (RFC 6455 1.4)
        data = frame.data if isinstance(frame.data, bytes) else bytes(frame.data)
        if frame.opcode is not Opcode.CONT:
            # The protocol has checked the frame order: this starts a new message.
            self._decoder = _Utf8Decoder() if frame.opcode is Opcode.TEXT else None
        decoder = self._decoder
        if decoder is not None:
            try:
                self._text_parts.append(decoder.decode(data, frame.fin))
            except UnicodeDecodeError as exc:
                self._closing = True
                self._abandon_message()
                self.protocol.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
                return
        else:
            self._byte_parts.append(data)
        if not frame.fin:
            return
        message: Message
        if decoder is not None:
            parts = self._text_parts
            text = parts[0] if len(parts) == 1 else "".join(parts)
            message = {"type": "websocket.receive", "text": text}
        else:
            chunks = self._byte_parts
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            message = {"type": "websocket.receive", "bytes": body}
        self._abandon_message()
        self._messages.append(message)
        self._readable.set()
        max_queue = self.options.max_queue
        if 0 < max_queue <= len(self._messages) and not self._read_paused:
            self._read_paused = True
            if self.transport is not None and not self.closed:
                self.transport.pause_reading()

    def _abandon_message(self) -> None:
        self._decoder = None
        self._text_parts = []
        self._byte_parts = []

    def _resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def _flush(self) -> None:
        """Write what the protocol queued; its empty chunk means "end the stream"."""
        transport = self.transport
        for data in self.protocol.data_to_send():
            if transport is None or self.closed or transport.is_closing():
                continue
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                # Half-close: the peer still gets to finish (its close echo, our last bytes
                # are not reset away) and then closes its side, which ends the connection.
                transport.write_eof()
            else:
                transport.close()
        if self._close_handle is None and not self.closed and self.protocol.close_expected():
            self._close_handle = self.loop.call_later(
                self.options.close_timeout, self._close_timed_out
            )

    def _settle(self) -> None:
        """Once no more messages can arrive, give the app its disconnect (once)."""
        if self._disconnect is not None:
            return
        protocol = self.protocol
        close: Close | None
        if protocol.close_rcvd is not None:
            close = protocol.close_rcvd  # an empty close frame parses as 1005 (RFC 6455 7.1.5)
        elif protocol.eof_sent or self.closed:
            close = protocol.close_sent  # we failed the connection, or it was simply lost
        else:
            return
        code, reason = (close.code, close.reason) if close is not None else (1006, "")
        self._disconnect = {"type": "websocket.disconnect", "code": int(code), "reason": reason}
        self._abandon_message()
        self._stop_keepalive()
        self._resume_reading()
        self._readable.set()

    async def _drain(self) -> None:
        if not self.write_paused:
            return
        if self.closed:
            raise ClientDisconnected("client disconnected")
        waiter = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # -- keepalive and close timers --------------------------------------------------------

    def _schedule_ping(self, delay: float) -> None:
        self._ping_handle = self.loop.call_later(max(delay, 0.0), self._send_ping)

    def _send_ping(self) -> None:
        self._ping_handle = None
        if self.closed or self.protocol.state is not OPEN:
            return
        payload = os.urandom(4)
        self._ping_payload = payload
        self._ping_sent = self.loop.time()
        self.protocol.send_ping(payload)
        self._flush()
        if self.options.ping_timeout > 0:
            self._pong_handle = self.loop.call_later(self.options.ping_timeout, self._pong_missing)
        else:
            self._schedule_ping(self.options.ping_interval)

    def _on_pong(self, payload: bytes) -> None:
        if self._ping_payload is None or payload != self._ping_payload:
            return  # unsolicited or stale (RFC 6455 5.5.3)
        self._ping_payload = None
        if self._pong_handle is not None:
            self._pong_handle.cancel()
            self._pong_handle = None
            elapsed = self.loop.time() - self._ping_sent
            self._schedule_ping(self.options.ping_interval - elapsed)

    def _pong_missing(self) -> None:
        self._pong_handle = None
        if self.closed or self.protocol.state is not OPEN:
            return
        if self._read_paused:
            # The pong may be queued behind messages the app has not read yet: a slow app is
            # not a dead peer, so wait another round.
            self._pong_handle = self.loop.call_later(self.options.ping_timeout, self._pong_missing)
            return
        log.info("WebSocket keepalive ping timed out; closing %s", self._peer())
        self._closing = True
        self.protocol.fail(1011, "keepalive ping timeout")
        self._flush()
        self._settle()

    def _stop_keepalive(self) -> None:
        for handle in (self._ping_handle, self._pong_handle):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._pong_handle = None
        self._ping_payload = None

    def _close_timed_out(self) -> None:
        self._close_handle = None
        if self.transport is not None and not self.closed:
            log.debug("WebSocket closing handshake timed out; aborting %s", self._peer())
            self.transport.abort()

    def _cancel_timers(self) -> None:
        self._stop_keepalive()
        if self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None

    def _peer(self) -> object:
        return self.transport.get_extra_info("peername") if self.transport is not None else None
