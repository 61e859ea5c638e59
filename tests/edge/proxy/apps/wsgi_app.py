"""A WSGI app for gunicorn behind the proxy: who answered, what arrived, slow and big answers."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

NAME = os.environ.get("BACKEND_NAME", "wsgi")
StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, data: object, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/whoami":
        peer = f"{environ.get('REMOTE_ADDR')}:{environ.get('REMOTE_PORT')}"
        return _json(start_response, {"name": NAME, "pid": os.getpid(), "peer": peer})
    if path.startswith("/echo") or path == "/":
        body = environ["wsgi.input"].read()
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        return _json(
            start_response,
            {
                "name": NAME,
                "method": environ["REQUEST_METHOD"],
                "path": path,
                "query": query,
                "headers": headers,
                "body_len": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            },
        )
    if path == "/slow":
        time.sleep(min(float(query.partition("=")[2] or "0.2"), 10.0))
        return _json(start_response, {"name": NAME})
    if path == "/big":
        size = int(query.partition("=")[2] or "1000000")
        block = bytes(range(256)) * 4096
        data = (block * (size // len(block) + 1))[:size]
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
        )
        return [data]
    if path == "/generated":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"line {i}\n".encode() for i in range(100))
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]
