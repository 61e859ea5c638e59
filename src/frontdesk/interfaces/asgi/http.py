"""The ASGI ``http`` scope on an ``Exchange``: one app call per request.

The call runs at once on the connection's host task while it does not have to wait, and on
that task after (``eager``); a WebSocket session gets a task of its own.

Message order is enforced (optional early hints, start, body or pathsend messages, trailers
when announced, nothing after the end), the app's exceptions become a 500 before the response
starts or a closed connection after, and sending to a client that has gone raises
``ClientDisconnected`` (an OSError), which is not an app error.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.interfaces.admission import Admission
from frontdesk.interfaces.asgi.eager import TaskHost
from frontdesk.interfaces.asgi.types import ASGI_VERSION, ASGIApp, Message, Scope
from frontdesk.interfaces.asgi.websocket import (
    WebSocketOptions,
    WebSocketSession,
    is_websocket_upgrade,
)
from frontdesk.interfaces.proxy import TrustedProxies, resolve
from frontdesk.observe.journey import Journey, log_app_error

log = logging.getLogger("frontdesk.asgi")

_DISCONNECT: Message = {"type": "http.disconnect"}
_INTERNAL_ERROR = b"Internal Server Error\n"
_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")

# What scope["extensions"] advertises: each extension with its (no) options.
_EXTENSIONS: dict[str, dict[str, Any]] = {
    "http.response.pathsend": {},
    "http.response.trailers": {},
    "http.response.early_hint": {},
}

# Send-side states of one cycle.
_BEFORE_START, _BODY, _TRAILERS, _DONE = range(4)


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
        trusted_proxies: TrustedProxies | None = None,
        limit_concurrency: int = 0,
        limit_max_requests: int = 0,
        on_max_requests: Callable[[], None] | None = None,
        journey: Journey | None = None,
    ):
        self.app = app
        self.root_path = root_path
        self.state = state if state is not None else {}
        #: None turns WebSocket support off: upgrade requests are then plain HTTP requests
        self.websocket = websocket
        #: None ignores X-Forwarded-* and Forwarded from every peer
        self.trusted_proxies = trusted_proxies
        self.admission = Admission(limit_concurrency, limit_max_requests, on_max_requests)
        #: request ids, Server-Timing, tracing and the access log; None: none of them
        self.journey = journey
        self.tasks: set[asyncio.Task[None]] = set()

    def base_scope(self, exchange: Exchange, kind: str, scheme: str) -> Scope:
        """The scope fields shared by ``http`` and ``websocket``."""
        request = exchange.request
        root_path = self.root_path
        raw_path = request.path
        conn = exchange.connection  # its facts read as plain attributes, not properties
        client = conn.client
        server = conn.server_address
        trusted = self.trusted_proxies
        if trusted is not None and request.proxied:
            peer_host = client[0] if client is not None else None
            if trusted.is_trusted(peer_host):
                client, scheme, _host = resolve(client, scheme, request.headers, trusted)
        trip = exchange.trip
        if trip is not None:
            trip.client = None if client is None else client[0]
        return {
            "type": kind,
            "asgi": ASGI_VERSION,
            "http_version": request.version,
            "scheme": scheme,
            "path": root_path + decode_path(raw_path),
            "raw_path": raw_path,
            "query_string": request.query,
            "root_path": root_path,
            # The app's own list: apps and middleware may change the scope they are given,
            # and the request's list is read-only (a request sent again is the same object).
            "headers": request.headers.copy(),
            "client": client,
            "server": server,
            "state": self.state.copy(),
        }

    def scope_for(self, exchange: Exchange) -> Scope:
        scheme = "http" if exchange.connection.ssl_object is None else "https"
        scope = self.base_scope(exchange, "http", scheme)
        scope["method"] = exchange.request.method
        # A dict of its own per request; the (empty) option dicts inside are shared.
        scope["extensions"] = _EXTENSIONS.copy()
        return scope

    def handle(self, exchange: Exchange) -> None:
        journey = self.journey
        if journey is not None and (exchange.request.journey or journey.access):
            journey.begin(exchange)
        if not self.admission.admit(exchange, len(self.tasks)):
            return
        upgrade = exchange.request.upgrade
        if upgrade is not None and self.websocket is not None and is_websocket_upgrade(upgrade):
            coro = WebSocketSession(self, exchange, self.websocket).run()
        else:
            coro = self._run(_Cycle(exchange), self.scope_for(exchange))
            conn = exchange.connection
            host: TaskHost | None = conn.app_host  # type: ignore[assignment]
            if host is None or host.closed:
                host = conn.app_host = TaskHost(conn.loop, self.tasks)
            if host.run(coro):
                return
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, cycle: _Cycle, scope: Scope) -> None:
        exchange = cycle.exchange
        trip = exchange.trip
        if trip is not None:
            trip.call()
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except ClientDisconnected:
            # The client left; nothing to answer and nothing wrong with the app.
            exchange.abort()
            return
        except BaseException as exc:
            if not isinstance(exc, Exception):
                exchange.abort()
                raise
            log_app_error(log, "Exception in ASGI application", exchange, exc)
            cycle.fail()
            return
        if not exchange.finished:
            if exchange.disconnected:
                exchange.abort()  # the app stopped because the client left: not an error
            elif not exchange.started:
                log_app_error(
                    log, "ASGI application returned without starting a response", exchange
                )
                cycle.fail()
            else:
                log_app_error(
                    log, "ASGI application returned without completing the response", exchange
                )
                exchange.abort()


class _Cycle:
    """One request's receive and send callables."""

    __slots__ = ("body_done", "exchange", "state", "trailers", "trailers_announced")

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.state = _BEFORE_START
        self.body_done = False
        self.trailers: list[tuple[bytes, bytes]] | None = None  # made once announced
        self.trailers_announced = False

    def fail(self) -> None:
        exchange = self.exchange
        if exchange.finished or exchange.disconnected:
            return
        if exchange.started:
            exchange.abort()
            return
        exchange.keep_alive = False
        exchange.start(500, [_TEXT_PLAIN, (b"connection", b"close")])
        exchange.end(_INTERNAL_ERROR)

    async def receive(self) -> Message:
        exchange = self.exchange
        if not self.body_done and not exchange.finished:
            try:
                data = exchange.read_nowait()
                if data is None:
                    data = await exchange.read()
            except (ClientDisconnected, ProtocolError):
                return _DISCONNECT
            more = not exchange.body_complete
            if not more:
                self.body_done = True
            return {"type": "http.request", "body": data, "more_body": more}
        # The body has been delivered: the next event is the end of the exchange.
        await exchange.wait_done()
        return _DISCONNECT

    async def send(self, message: Message) -> None:
        exchange = self.exchange
        kind = message["type"]
        state = self.state
        if state == _BODY:
            if kind == "http.response.body":
                body = message.get("body", b"")
                if message.get("more_body", False):
                    exchange.write(body)
                    await exchange.drain()
                elif self.trailers_announced:
                    exchange.write(body)
                    self.state = _TRAILERS
                else:
                    self.state = _DONE
                    exchange.end(body)
                return
            if kind == "http.response.pathsend":
                await self._pathsend(message)
                return
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        if state == _BEFORE_START:
            if kind == "http.response.start":
                if exchange.disconnected or exchange.finished:
                    # Gone, or answered by the core (a body too large or too slow): the app
                    # was told http.disconnect, and its answer has nowhere to go.
                    raise ClientDisconnected("client disconnected")
                announced = bool(message.get("trailers", False))
                exchange.start(message["status"], message.get("headers", ()), trailers=announced)
                self.state = _BODY
                self.trailers_announced = announced
                return
            if kind == "http.response.early_hint":
                links = [(b"link", bytes(link)) for link in message.get("links", ())]
                if links and not exchange.disconnected:
                    exchange.send_informational(103, links)
                return
            raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
        if state == _TRAILERS:
            if kind != "http.response.trailers":
                raise RuntimeError(f"expected 'http.response.trailers', got {kind!r}")
            trailers = self.trailers
            if trailers is None:
                trailers = self.trailers = []
            trailers.extend((bytes(n), bytes(v)) for n, v in message.get("headers", ()))
            if not message.get("more_trailers", False):
                self.state = _DONE
                exchange.end(b"", trailers)
            return
        if exchange.disconnected:
            raise ClientDisconnected("client disconnected")
        raise RuntimeError(f"{kind!r} sent after the response completed")

    async def _pathsend(self, message: Message) -> None:
        exchange = self.exchange
        path = message["path"]
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            await exchange.sendfile(file, 0, size)
        if self.trailers_announced:
            self.state = _TRAILERS
        else:
            self.state = _DONE
            exchange.end(b"")
