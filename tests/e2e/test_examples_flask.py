"""examples/flask_app through the whole stack: the edge in front, a Flask worker behind.

The stack starts in examples/flask_app, so its ./static is the edge's to serve: the page's
stylesheet never reaches Flask.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.stack import Stack, stack
from tests.support.processes import REPO

EXAMPLE = REPO / "examples" / "flask_app"


@pytest.fixture(scope="module")
def site() -> Iterator[Stack]:
    app_dir = ["--app-dir", str(REPO)]
    with stack("examples.flask_app.app:app", cwd=EXAMPLE, extra_args=app_dir) as running:
        yield running
    assert "Traceback" not in running.output, running.output


@pytest.fixture
def client(site: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def test_templated_pages(client: httpx.Client) -> None:
    home = client.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Hello from Flask</h1>" in home.text
    about = client.get("/about")
    assert about.status_code == 200
    assert "Rendered from a Jinja template" in about.text
    assert client.get("/nope").status_code == 404


def test_stylesheet_comes_from_the_edge(client: httpx.Client) -> None:
    page = client.get("/").text
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert href is not None and href.group(1) == "/static/style.css"
    css = client.get(href.group(1))
    assert css.status_code == 200
    assert css.content == (EXAMPLE / "static" / "style.css").read_bytes()
    assert css.headers["content-type"].startswith("text/css")
    # The edge's static route: validators of its own, and none of the X-Request-ID the
    # edge puts on every request it hands to the app (and echoes in the answer).
    assert "last-modified" in css.headers
    assert "x-request-id" not in css.headers
    assert "x-request-id" in client.get("/").headers
    again = client.get(href.group(1), headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304


def test_json_endpoint(client: httpx.Client) -> None:
    r = client.get("/api/status")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["app"] == "flask"
    # The edge reports the real client and scheme; the app server believes it.
    assert body["client"] == "127.0.0.1"
    assert body["scheme"] == "http"


def test_form_post(client: httpx.Client) -> None:
    form = client.get("/contact")
    assert '<form method="post" action="/contact">' in form.text
    r = client.post("/contact", data={"name": "Ada & co", "message": "héllo"})
    assert r.status_code == 200
    assert "<h1>Thanks, Ada &amp; co!</h1>" in r.text
    assert "(5 characters)" in r.text
    missing = client.post("/contact", data={"name": "Ada"})
    assert missing.status_code == 400
    assert "Both fields are required." in missing.text


def test_multipart_upload(client: httpx.Client) -> None:
    payload = os.urandom(5 * 1024 * 1024 + 3)
    r = client.post("/upload", files={"file": ("data.bin", payload, "application/octet-stream")})
    assert r.status_code == 200
    assert r.json() == {
        "filename": "data.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    assert client.post("/upload", data={"nothing": "here"}).status_code == 400
