"""The ASGI ``http`` scope on an ``Exchange``: one app call per request, run as a task.

Message order is enforced (start, then body messages, nothing after the last), the app's
exceptions become a 500 before the response starts or a closed connection after, and sending
to a client that has gone raises ``ClientDisconnected`` (an OSError), which is not an app error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import unquote

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.interfaces.asgi.types import ASGI_VERSION, ASGIApp, Message, Scope
from frontdesk.interfaces.asgi.websocket import (
    WebSocketOptions,
    WebSocketSession,
    is_websocket_upgrade,
)

log = logging.getLogger("frontdesk.asgi")

_DISCONNECT: Message = {"type": "http.disconnect"}
_INTERNAL_ERROR = b"Internal Server Error\n"


def decode_path(raw_path: bytes) -> str:
    text = raw_path.decode("ascii", "surrogateescape")
    return unquote(text) if "%" in text else text


class ASGIHandler:
    """Hands each request to an ASGI 3 app (``frontdesk.http.connection.Handler``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        root_path: str = "",
        state: dict[str, Any] | None = None,
        websocket: WebSocketOptions | None = None,
    ):
        self.app = app
        self.root_path = root_path
        self.state = state if state is not None else {}
        #: None turns WebSocket support off: upgrade requests are then plain HTTP requests
        self.websocket = websocket
        self.tasks: set[asyncio.Task[None]] = set()

    def scope_for(self, exchange: Exchange) -> Scope:
        request = exchange.request
        root_path = self.root_path
        raw_path = request.path
        return {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": request.version,
            "method": request.method,
            "scheme": "http",
            "path": root_path + decode_path(raw_path),
            "raw_path": raw_path,
            "query_string": request.query,
            "root_path": root_path,
            "headers": request.headers,
            "client": exchange.client,
            "server": exchange.server,
            "state": self.state.copy(),
            "extensions": {},
        }

    def handle(self, exchange: Exchange) -> None:
        upgrade = exchange.request.upgrade
        if upgrade is not None and self.websocket is not None and is_websocket_upgrade(upgrade):
            coro = WebSocketSession(self, exchange, self.websocket).run()
        else:
            coro = self._run(_Cycle(exchange), self.scope_for(exchange))
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, cycle: _Cycle, scope: Scope) -> None:
        exchange = cycle.exchange
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except ClientDisconnected:
            pass  # the client left; nothing to answer and nothing wrong with the app
        except BaseException as exc:
            if not isinstance(exc, Exception):
                exchange.abort()
                raise
            log.exception("Exception in ASGI application")
            cycle.fail()
            return
        if not exchange.finished:
            if not exchange.started:
                log.error("ASGI application returned without starting a response")
                cycle.fail()
            else:
                log.error("ASGI application returned without completing the response")
                exchange.abort()


class _Cycle:
    """One request's receive and send callables."""

    __slots__ = ("exchange", "started")

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.started = False

    def fail(self) -> None:
        exchange = self.exchange
        if exchange.finished or exchange.disconnected:
            return
        if exchange.started:
            exchange.abort()
            return
        exchange.keep_alive = False
        exchange.start(
            500,
            [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        )
        exchange.end(_INTERNAL_ERROR)

    async def receive(self) -> Message:
        exchange = self.exchange
        if exchange.finished:
            return _DISCONNECT
        try:
            data = exchange.read_nowait()
            if data is None:
                data = await exchange.read()
        except (ClientDisconnected, ProtocolError):
            return _DISCONNECT
        return {"type": "http.request", "body": data, "more_body": not exchange.body_complete}

    async def send(self, message: Message) -> None:
        exchange = self.exchange
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            if exchange.disconnected:
                raise ClientDisconnected("client disconnected")
            self.started = True
            headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", ())]
            exchange.start(int(message["status"]), headers)
            return
        if kind != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        if exchange.finished:
            if exchange.disconnected:
                raise ClientDisconnected("client disconnected")
            raise RuntimeError("response already completed")
        body = message.get("body", b"")
        if message.get("more_body", False):
            exchange.write(body)
            await exchange.drain()
        else:
            exchange.end(body)
