"""Apps that report what they saw, for the serve option tests."""

from __future__ import annotations

import json
from typing import Any


async def scope_echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    info = {
        "path": scope["path"],
        "root_path": scope["root_path"],
        "scheme": scope["scheme"],
        "client": scope["client"],
        "server": scope["server"],
    }
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(info).encode()})


def create_app() -> Any:
    """A factory: ``--factory scope_apps:create_app``."""
    return scope_echo


class Asgi2App:
    """An ASGI 2 (double callable) app."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2"})


def environ_echo(environ: Any, start_response: Any) -> list[bytes]:
    """A WSGI app answering the CGI keys a mounted, proxied app depends on, as JSON."""
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "wsgi.url_scheme")
    info = {key: environ.get(key) for key in keys}
    info["request_id"] = environ.get("HTTP_X_REQUEST_ID")
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
