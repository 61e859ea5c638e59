"""WSGI apps that ``frontdesk serve`` loads in tests/interfaces/wsgi/test_serve.py."""

from __future__ import annotations

import json
from typing import Any


def info(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    data = {
        "script_name": environ["SCRIPT_NAME"],
        "path_info": environ["PATH_INFO"],
        "multithread": environ["wsgi.multithread"],
        "body": body.decode("latin-1"),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


class CallableInfo:
    """An app object whose __call__ takes (environ, start_response): detected as WSGI."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return info(environ, start_response)


callable_info = CallableInfo()
