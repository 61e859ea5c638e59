"""Apps for the serve tests; loaded with ``--app-dir tests/appserver/apps``."""

from __future__ import annotations

import asyncio
import os
from typing import Any

LOG = os.environ.get("LIFESPAN_LOG")


def _note(text: str) -> None:
    if LOG:
        with open(LOG, "a") as f:
            f.write(text + "\n")


async def with_state(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello from startup"
                _note("startup")
                await send({"type": "lifespan.startup.complete"})
            else:
                _note("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        _note("slow-start")
        await asyncio.sleep(2)
    body = scope["state"]["greeting"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def startup_fails(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database unreachable"})


async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_app(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [])
    return [b"wsgi"]


not_an_app = 42


def broken_import() -> None:
    pass
