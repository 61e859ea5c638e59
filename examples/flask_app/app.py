"""A small Flask site: templated pages, a JSON endpoint, a form and a file upload.

Run the whole stack (edge in front, app workers behind) from the repository root::

    frontdesk run examples.flask_app.app:app

Run from this directory instead (``--app-dir ../..``) and the edge serves ``./static``
itself, without asking the app; from anywhere else Flask serves ``/static/`` through the
proxy. Either way the page finds its stylesheet at the same URL.
"""

from __future__ import annotations

import hashlib
import platform

from flask import Flask, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)

#: Reading an upload in pieces keeps memory flat whatever its size.
CHUNK = 64 * 1024


@app.get("/")
def index() -> ResponseReturnValue:
    return render_template("index.html")


@app.get("/about")
def about() -> ResponseReturnValue:
    return render_template("about.html", python=platform.python_version())


@app.get("/api/status")
def status() -> ResponseReturnValue:
    return jsonify(
        app="flask",
        python=platform.python_version(),
        multithread=request.environ.get("wsgi.multithread"),
        scheme=request.scheme,
        client=request.remote_addr,
    )


@app.route("/contact", methods=["GET", "POST"])
def contact() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("contact.html")
    name = request.form.get("name", "").strip()
    message = request.form.get("message", "").strip()
    if not name or not message:
        return render_template("contact.html", error="Both fields are required."), 400
    return render_template("thanks.html", name=name, length=len(message))


@app.route("/upload", methods=["GET", "POST"])
def upload() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("upload.html")
    uploaded = request.files.get("file")
    if uploaded is None:
        abort(400, "no file field in the form")
    digest = hashlib.sha256()
    size = 0
    while chunk := uploaded.stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return jsonify(filename=uploaded.filename, size=size, sha256=digest.hexdigest())
