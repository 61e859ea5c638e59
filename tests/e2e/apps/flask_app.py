"""A real Flask app served through ``frontdesk serve`` (WSGI), by tests/e2e/test_flask.py.

``validated_app`` is the same app behind ``wsgiref.validate.validator``, which checks every
environ, start_response call, body chunk and close() against PEP 3333.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

from flask import Flask, Response, jsonify, request, send_file, stream_with_context

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "hello from flask"


@app.get("/json")
def get_json() -> Response:
    return jsonify(hello="world", numbers=[1, 2, 3])


@app.post("/json")
def echo_json() -> Response:
    return jsonify(received=request.get_json())


@app.post("/form")
def form() -> Response:
    return jsonify(name=request.form["name"], age=int(request.form["age"]))


@app.post("/upload")
def upload() -> Response:
    file = request.files["file"]
    digest = hashlib.sha256()
    size = 0
    while chunk := file.stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return jsonify(
        filename=file.filename, size=size, sha256=digest.hexdigest(), note=request.form["note"]
    )


@app.get("/stream")
def stream() -> Response:
    def lines() -> Iterator[str]:
        for i in range(10):
            yield f"line {i}\n"

    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/file")
def file() -> Response:
    return send_file(os.environ["FLASK_E2E_FILE"], mimetype="application/octet-stream")


@app.get("/environ")
def environ() -> Response:
    env = request.environ
    return jsonify(
        multithread=env["wsgi.multithread"],
        url_scheme=env["wsgi.url_scheme"],
        remote_addr=request.remote_addr,
        script_name=env["SCRIPT_NAME"],
        path=request.path,
        full_path=request.full_path,
    )


@app.get("/error")
def error() -> str:
    raise RuntimeError("this view fails")


class _SizedReads:
    """wsgi.input whose ``read()`` asks for the rest explicitly, as ``read(-1)``.

    With ``wsgi.input_terminated`` set (as frontdesk, gunicorn and uWSGI do), Werkzeug reads the
    input with ``read()``; PEP 3333 lists only ``read(size)``, which is what the validator
    insists on. This shim sits between the two so that the validator checks everything else.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)  # type: ignore[no-any-return]

    def __iter__(self) -> Any:
        return iter(self.stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _sized_reads(wsgi_app: Any) -> Any:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = _SizedReads(environ["wsgi.input"])
        return wsgi_app(environ, start_response)

    return wrapped


validated_app = validator(_sized_reads(app))
