"""examples/django_project through the whole stack, deployed the way Django is deployed.

In a temporary directory: ``manage.py migrate`` into a fresh sqlite database, a superuser,
``manage.py collectstatic`` into ./static; then the stack starts in that directory, so the
edge serves ./static at /static/ and Django (DEBUG off, no static views) never sees it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack, stack
from tests.support.processes import REPO

PROJECT = REPO / "examples" / "django_project"
PASSWORD = "correct-horse-battery-staple-42"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    directory = tmp_path_factory.mktemp("django-example")
    env = {
        "DJANGO_DB_PATH": str(directory / "db.sqlite3"),
        "DJANGO_STATIC_ROOT": str(directory / "static"),
    }
    _manage("migrate", "--noinput", env=env)
    _manage("collectstatic", "--noinput", env=env)
    superuser = {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    _manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.com",
        env=superuser,
    )
    return directory, env


@pytest.fixture(scope="module")
def site(deployment: tuple[Path, dict[str, str]]) -> Iterator[Stack]:
    directory, env = deployment
    app_dir = ["--app-dir", str(PROJECT)]
    with stack("mysite.wsgi:application", cwd=directory, env=env, extra_args=app_dir) as running:
        yield running
    assert "Traceback" not in running.output, running.output


@pytest.fixture
def client(site: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def _csrf_token(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def test_admin_login_page(client: httpx.Client) -> None:
    r = client.get("/admin/", follow_redirects=True)
    assert r.status_code == 200
    assert r.url.path == "/admin/login/"
    assert '<form action="/admin/login/?next=/admin/" method="post" id="login-form">' in r.text
    assert 'href="/static/admin/css/base.css"' in r.text


def test_admin_css_is_served_by_the_edge(
    client: httpx.Client, deployment: tuple[Path, dict[str, str]]
) -> None:
    directory, _ = deployment
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.content == (directory / "static" / "admin" / "css" / "base.css").read_bytes()
    # The edge's static route: its own validators, and none of the X-Request-ID the edge
    # puts on every request it hands to the app (and echoes in the answer).
    assert "last-modified" in css.headers
    assert "x-request-id" not in css.headers
    assert "x-request-id" in client.get("/admin/login/").headers
    again = client.get("/static/admin/css/base.css", headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/admin/css/no-such.css").status_code == 404


def test_admin_login_with_csrf(client: httpx.Client) -> None:
    login = client.get("/admin/login/?next=/admin/")
    assert "csrftoken" in client.cookies
    form = {"username": "admin", "password": PASSWORD, "next": "/admin/"}

    refused = client.post("/admin/login/?next=/admin/", data=form)
    assert refused.status_code == 403  # no CSRF token in the form

    wrong = {**form, "password": "wrong", "csrfmiddlewaretoken": _csrf_token(login)}
    again = client.post("/admin/login/?next=/admin/", data=wrong)
    assert again.status_code == 200
    assert "Please enter the correct username and password" in again.text

    ok = {**form, "csrfmiddlewaretoken": _csrf_token(again)}
    r = client.post("/admin/login/?next=/admin/", data=ok)
    assert r.status_code == 302
    assert r.headers["location"] == "/admin/"
    assert "sessionid" in client.cookies
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "Site administration" in index.text
    assert 'href="/admin/guestbook/entry/"' in index.text


def test_guestbook_form(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/static/guestbook/style.css"' in page.text
    assert client.get("/static/guestbook/style.css").status_code == 200
    entry = {"name": "Grace", "message": "<b>hello</b> from the stack"}
    signed = client.post("/", data={**entry, "csrfmiddlewaretoken": _csrf_token(page)})
    assert signed.status_code == 302
    assert signed.headers["location"] == "/"
    listed = client.get("/")
    assert "<strong>Grace</strong>: &lt;b&gt;hello&lt;/b&gt; from the stack" in listed.text
    invalid = client.post("/", data={"name": "x", "csrfmiddlewaretoken": _csrf_token(listed)})
    assert invalid.status_code == 400
