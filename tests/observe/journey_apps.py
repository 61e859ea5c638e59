"""Apps for the request-journey tests: quick, slow (0.2 s before the head), failing, reading."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

SLOW = 0.2
BODY = b"hello, journey\n"
#: ``/held`` sets HELD once it runs, then keeps its slot for HOLD seconds
HELD = threading.Event()
HOLD = 3.0


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/slow":
        await asyncio.sleep(SLOW)
    elif path == "/held":
        HELD.set()
        await asyncio.sleep(HOLD)
    elif path == "/boom":
        raise RuntimeError("the app failed on purpose")
    elif path == "/read":
        while (await receive()).get("more_body", False):
            pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(SLOW)
    elif path == "/boom":
        raise RuntimeError("the app failed on purpose")
    elif path == "/read":
        environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
