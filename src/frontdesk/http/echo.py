"""A handler that answers every request with what the core parsed: a diagnostic for the core.

``GET /anything`` comes back as JSON: method, target, path, query, version, headers (names
lower-cased, values latin-1), trailers and the body (latin-1), the way httpbin's ``/anything``
does. The test suite replays its request corpus against it; a user can point a proxy at it to
see exactly what arrives.
"""

from __future__ import annotations

import asyncio
import json

from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.http.exchange import Exchange


def describe(exchange: Exchange, body: bytes) -> bytes:
    request = exchange.request
    return json.dumps(
        {
            "method": request.method,
            "target": request.target.decode("latin-1"),
            "path": request.path.decode("latin-1"),
            "query": request.query.decode("latin-1"),
            "version": request.version,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
            "trailers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.trailers],
            "body": body.decode("latin-1"),
        }
    ).encode("utf-8")


class EchoHandler:
    """Reads the whole body, then answers 200 with the request described as JSON."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, exchange: Exchange) -> None:
        if exchange.body_received:
            # All of it is buffered already: one read returns the whole body.
            self._answer(exchange, exchange.read_nowait() or b"")
            return
        task = asyncio.get_running_loop().create_task(self._read_then_answer(exchange))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_then_answer(self, exchange: Exchange) -> None:
        parts: list[bytes] = []
        try:
            while True:
                data = await exchange.read()
                if not data:
                    break
                parts.append(data)
        except (ClientDisconnected, ProtocolError):
            return  # the core answers or has closed; nothing of ours to send
        self._answer(exchange, b"".join(parts))

    def _answer(self, exchange: Exchange, body: bytes) -> None:
        if exchange.finished or exchange.disconnected:
            return
        payload = describe(exchange, body)
        exchange.start(200, [(b"content-type", b"application/json")])
        exchange.end(payload)
