"""Apps for the arbiter tests; every answer is ``"<pid> <version>"``: who answered, which code.

``POOL_APP_VERSION_FILE`` names a file read when the module is imported, so a reload that
imports the module again shows its new content; the content ``raise`` makes the import fail.
``POOL_APP_LOG`` names a file the app appends notes to (``slow-start``).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

_VERSION_FILE = os.environ.get("POOL_APP_VERSION_FILE")
VERSION = "v1"
if _VERSION_FILE:
    with open(_VERSION_FILE) as _f:
        VERSION = _f.read().strip()
if VERSION == "raise":
    raise RuntimeError("this version of the app does not import")

_LOG = os.environ.get("POOL_APP_LOG")
_hoard: list[bytes] = []


def _note(text: str) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{text} {os.getpid()}\n")


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = scope["path"]
    if path == "/slow":
        _note("slow-start")
        await asyncio.sleep(2)
    elif path == "/block":
        _note("block-start")
        time.sleep(60)  # blocks the event loop: the heartbeat stops
    elif path == "/crash":
        os._exit(1)
    elif path == "/grow":
        _hoard.append(b"\x01" * (96 * 1024 * 1024))  # touched, so resident
    body = f"{os.getpid()} {VERSION}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    """The same answer from a WSGI app."""
    body = f"{os.getpid()} {VERSION}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
