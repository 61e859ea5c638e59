"""A plain ASGI app for uvicorn behind the proxy: identity, echo, server-sent events, WebSocket."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

NAME = os.environ.get("BACKEND_NAME", "asgi")
_release = asyncio.Event()

Scope = dict[str, Any]
Receive = Any
Send = Any


async def _json(send: Send, data: object, status: int = 200) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 1000})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
        return
    path = scope["path"]
    if path == "/whoami":
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else "unix"
        await _json(send, {"name": NAME, "pid": os.getpid(), "peer": peer})
    elif path.startswith("/echo"):
        body = await _body(receive)
        await _json(
            send,
            {
                "name": NAME,
                "method": scope["method"],
                "path": path,
                "query": scope["query_string"].decode(),
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body_len": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            },
        )
    elif path == "/events":
        # One event at once, the last only after /release (or 10 s): a buffering proxy
        # would hold the first one back until the end.
        plain = scope["query_string"] == b"plain"
        headers = [(b"content-type", b"text/plain" if plain else b"text/event-stream")]
        if plain:
            headers.append((b"x-accel-buffering", b"no"))
        _release.clear()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
        try:
            await asyncio.wait_for(_release.wait(), 10)
        except TimeoutError:
            pass
        await send({"type": "http.response.body", "body": b"data: last\n\n"})
    elif path == "/release":
        _release.set()
        await _json(send, {"released": True})
    else:
        await _json(send, {"error": "not found"}, 404)
