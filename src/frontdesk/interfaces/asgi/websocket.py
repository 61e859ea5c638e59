"""The ASGI ``websocket`` scope (asgiref ``www.rst``) on websockets' Sans-I/O protocol.

A session is one WebSocket upgrade request. The handshake is checked before the app is called
(a request RFC 6455 refuses is answered 400/405/426/505 and the app never hears of it); then the
app gets ``websocket.connect`` and answers with one of:

- ``websocket.accept``: the 101 response goes out and the transport passes to a
  ``WebSocketConnection`` (``websocket_connection.py``), which carries the messages;
- ``websocket.close``: HTTP 403, the handshake is not completed;
- ``websocket.http.response.start``/``.body`` (the denial extension): that HTTP response.

The app's exceptions become a 500 before the answer and a 1011 close after it; an app that
returns without closing gets a 1000 close. Sending on a closed WebSocket raises
``ClientDisconnected`` (an OSError), which is not an app error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import parse_subprotocol
from websockets.http11 import Request as HandshakeRequest
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from frontdesk.errors import ClientDisconnected
from frontdesk.http.rules import status_line
from frontdesk.http.writer import CRLF, encode_fields
from frontdesk.interfaces.asgi.websocket_connection import WebSocketConnection
from frontdesk.observe.journey import log_app_error

if TYPE_CHECKING:
    from websockets.extensions import ServerExtensionFactory
    from websockets.http11 import Response

    from frontdesk.http.exchange import Exchange
    from frontdesk.http.request import Request
    from frontdesk.interfaces.asgi.http import ASGIHandler
    from frontdesk.interfaces.asgi.types import Message, Scope

log = logging.getLogger("frontdesk.asgi")
protocol_log = logging.getLogger("frontdesk.asgi.websocket")


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    #: largest incoming message in bytes (after decompression); bigger closes with 1009
    max_size: int = 16 * 1024 * 1024
    #: incoming messages buffered for the app before reading pauses; 0 for no limit
    max_queue: int = 32
    #: seconds between server pings; 0 turns them off
    ping_interval: float = 20.0
    #: seconds to wait for the pong before closing with 1011; 0 waits forever
    ping_timeout: float = 20.0
    #: negotiate permessage-deflate (RFC 7692) when the client offers it
    per_message_deflate: bool = True
    #: seconds the peer gets to finish a closing handshake before the socket is dropped
    close_timeout: float = 5.0


def is_websocket_upgrade(upgrade: bytes) -> bool:
    return any(p.strip().lower() == b"websocket" for p in upgrade.split(b","))


# What the session's answer to the handshake is, in order.
_CONNECTING, _ACCEPTED, _DENYING, _DONE = range(4)

_CONNECT: Message = {"type": "websocket.connect"}
_DENIED: Message = {"type": "websocket.disconnect", "code": 1006, "reason": ""}
_CLOSE_FIELD = (b"connection", b"close")
_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
# Fields of the 101 response that belong to the handshake, never to the app.
_HANDSHAKE_FIELDS = frozenset(
    {
        b"connection",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"content-length",
        b"transfer-encoding",
    }
)
# Fields of the library's rejection that our HTTP core writes itself.
_CORE_FIELDS = frozenset({"date", "connection", "content-length"})


def _extensions(options: WebSocketOptions) -> list[ServerExtensionFactory]:
    if not options.per_message_deflate:
        return []
    # websockets' own defaults: 4 KiB windows and memLevel 5 keep each connection's zlib
    # state small while compressing typical JSON well.
    return [
        ServerPerMessageDeflateFactory(
            server_max_window_bits=12,
            client_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ]


def handshake_request(request: Request) -> HandshakeRequest:
    """The websockets view of a request our HTTP core already parsed (no second parse)."""
    headers = Headers()
    for name, value in request.headers:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    target = request.path + b"?" + request.query if request.query else request.path
    return HandshakeRequest(
        target.decode("latin-1"),
        headers,
        method=request.method,
        protocol="HTTP/" + request.version,
    )


class WebSocketSession:
    """One WebSocket upgrade request and the app call that answers it."""

    __slots__ = (
        "_answered",
        "_connect_sent",
        "_connection",
        "_response",
        "_state",
        "_subprotocols",
        "_upgrade",
        "exchange",
        "handler",
        "options",
    )

    def __init__(self, handler: ASGIHandler, exchange: Exchange, options: WebSocketOptions) -> None:
        self.handler = handler
        self.exchange = exchange
        self.options = options
        self._state = _CONNECTING
        self._connect_sent = False
        self._answered = asyncio.Event()
        self._upgrade: ServerProtocol | None = None
        self._response: Response | None = None
        self._connection: WebSocketConnection | None = None
        self._subprotocols: list[str] = []

    def scope(self) -> Scope:
        # Path decoding, root_path, addresses and trusted proxies live in one place.
        scheme = "wss" if self.exchange.scheme == "https" else "ws"
        scope = self.handler.base_scope(self.exchange, "websocket", scheme)
        scope["subprotocols"] = list(self._subprotocols)
        scope["extensions"] = {"websocket.http.response": {}}
        return scope

    async def run(self) -> None:
        if not self._handshake():
            return
        scope = self.scope()
        trip = self.exchange.trip
        if trip is not None:
            trip.call()
        try:
            await self.handler.app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass  # the client left; nothing to answer and nothing wrong with the app
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self._abort()
                raise
            log_app_error(log, "Exception in ASGI application", self.exchange, exc)
            self._app_failed()
            return
        self._app_returned()

    # -- handshake -------------------------------------------------------------------------

    def _handshake(self) -> bool:
        """Check the upgrade request; answer it over HTTP and return False when it is invalid."""
        upgrade = ServerProtocol(
            extensions=_extensions(self.options),
            max_size=self.options.max_size or None,
            logger=protocol_log,
        )
        try:
            request = handshake_request(self.exchange.request)
            subprotocols: list[str] = [
                name
                for value in request.headers.get_all("Sec-WebSocket-Protocol")
                for name in parse_subprotocol(value)
            ]
        except InvalidHandshake as exc:
            body = f"Failed to open a WebSocket connection: {exc}.\n".encode()
            self._respond(400, [_TEXT_PLAIN], body)
            return False
        response = upgrade.accept(request)
        if response.status_code != 101:
            log.debug("refusing WebSocket handshake: %s", upgrade.handshake_exc)
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers.raw_items()
                if name.lower() not in _CORE_FIELDS
            ]
            self._respond(response.status_code, headers, bytes(response.body))
            return False
        self._upgrade = upgrade
        self._response = response
        self._subprotocols = subprotocols
        return True

    def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A complete HTTP response instead of the 101; the connection closes after it."""
        exchange = self.exchange
        self._state = _DONE
        self._answered.set()
        if exchange.disconnected or exchange.started:
            return
        try:
            exchange.start(status, [*headers, _CLOSE_FIELD])
            exchange.end(body)
        except ClientDisconnected:
            pass

    def _accept(self, message: Message) -> None:
        upgrade, response = self._upgrade, self._response
        assert upgrade is not None and response is not None
        fields = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.raw_items()
        ]
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            fields.append((b"sec-websocket-protocol", str(subprotocol).encode("latin-1")))
        for name, value in message.get("headers") or ():
            key = bytes(name).lower()
            if key not in _HANDSHAKE_FIELDS:
                fields.append((key, bytes(value)))
        head = status_line(101) + encode_fields(fields) + CRLF  # refuses bad names and values
        # The upgrade protocol negotiated; a fresh one starts OPEN, framing from the first byte.
        protocol = ServerProtocol(
            state=OPEN, max_size=self.options.max_size or None, logger=protocol_log
        )
        protocol.extensions = upgrade.extensions
        protocol.subprotocol = subprotocol
        exchange = self.exchange
        connection = WebSocketConnection(protocol, self.options, exchange.server_set)
        self._connection = connection
        self._state = _ACCEPTED
        self._answered.set()
        try:
            exchange.switch_protocol(head, connection)
        except ClientDisconnected:
            connection.connection_lost(None)  # the client left before the 101: never opened
            raise

    def _start_denial(self, message: Message) -> None:
        exchange = self.exchange
        if exchange.disconnected:
            raise ClientDisconnected("client disconnected")
        headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", ())]
        exchange.start(int(message["status"]), [*headers, _CLOSE_FIELD])  # a bad one is a 500
        self._state = _DENYING
        self._answered.set()

    async def _denial_body(self, message: Message) -> None:
        exchange = self.exchange
        body = bytes(message.get("body", b""))
        if message.get("more_body", False):
            exchange.write(body)
            await exchange.drain()
        else:
            self._state = _DONE
            exchange.end(body)

    # -- the app's callables ---------------------------------------------------------------

    async def receive(self) -> Message:
        if not self._connect_sent:
            self._connect_sent = True
            return dict(_CONNECT)
        if self._state == _CONNECTING:
            await self._answered.wait()  # nothing can arrive before the app answers
        connection = self._connection
        if connection is None:
            return dict(_DENIED)
        return await connection.receive()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        state = self._state
        if state == _ACCEPTED:
            connection = self._connection
            assert connection is not None
            if kind == "websocket.send":
                await connection.send(_payload(message))
            elif kind == "websocket.close":
                code = message.get("code")
                await connection.close(1000 if code is None else int(code), _reason(message))
            else:
                raise RuntimeError(f"expected 'websocket.send' or 'websocket.close', got {kind!r}")
        elif state == _CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._respond(403, [_TEXT_PLAIN], b"Forbidden\n")
            elif kind == "websocket.http.response.start":
                self._start_denial(message)
            else:
                raise RuntimeError(
                    "expected 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start', got {kind!r}"
                )
        elif state == _DENYING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"expected 'websocket.http.response.body', got {kind!r}")
            await self._denial_body(message)
        else:
            raise ClientDisconnected("WebSocket is closed")

    # -- the end of the app call -----------------------------------------------------------

    def _app_returned(self) -> None:
        state = self._state
        if state == _ACCEPTED:
            assert self._connection is not None
            self._connection.close_after_app(1000)
        elif state == _CONNECTING:
            log.error("ASGI application returned without accepting or closing the WebSocket")
            self._internal_error()
        elif state == _DENYING:
            log.error("ASGI application returned without completing the denial response")
            self._abort()

    def _app_failed(self) -> None:
        state = self._state
        if state == _ACCEPTED:
            assert self._connection is not None
            self._connection.close_after_app(1011)
        elif state == _CONNECTING:
            self._internal_error()
        elif state == _DENYING:
            self._abort()

    def _internal_error(self) -> None:
        self._respond(500, [_TEXT_PLAIN], b"Internal Server Error\n")

    def _abort(self) -> None:
        self._state = _DONE
        self._answered.set()
        if self._connection is not None:
            self._connection.abort()
        else:
            self.exchange.abort()


def _payload(message: Message) -> str | bytes:
    text: Any = message.get("text")
    data: Any = message.get("bytes")
    if (text is None) == (data is None):
        raise RuntimeError("'websocket.send' needs exactly one of 'text' and 'bytes'")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"'websocket.send' text must be str, not {type(text).__name__}")
        return text
    return bytes(data)


def _reason(message: Message) -> str:
    reason = message.get("reason")
    return "" if reason is None else str(reason)
