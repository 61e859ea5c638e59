"""A Django project through ``frontdesk serve`` (WSGI): views, CSRF, admin login, uploads.

Served inline and in threads, with and without ``wsgiref.validate.validator``; the sqlite
database is migrated once, in a temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "e2e" / "apps")
RUNS = [
    ("1", "application"),
    ("4", "application"),
    ("1", "validated_application"),
    ("4", "validated_application"),
]
PASSWORD = "a-long-test-password"


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("django")
    data = directory / "data.bin"
    data.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    env = {"DJANGO_E2E_DB": str(directory / "db.sqlite3"), "DJANGO_E2E_FILE": str(data)}
    setup = (
        "import django_wsgi\n"
        "from django.core.management import call_command\n"
        "from django.contrib.auth.models import User\n"
        "call_command('migrate', verbosity=0)\n"
        f"User.objects.create_superuser('admin', 'admin@example.com', {PASSWORD!r})\n"
    )
    subprocess.run(
        [sys.executable, "-c", setup],
        cwd=APPS,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    return env


@pytest.fixture(scope="module", params=RUNS, ids=[f"threads{t}-{a}" for t, a in RUNS])
def server(request: pytest.FixtureRequest, django_env: dict[str, str]) -> Iterator[ServerProcess]:
    threads, attribute = request.param
    args = ["serve", f"django_wsgi:{attribute}", "--app-dir", APPS, "-b", "127.0.0.1:0"]
    with ServerProcess([*args, "--threads", threads], env=django_env) as process:
        process.url()
        yield process
    assert "Traceback" not in process.output, process.output
    assert "WSGIWarning" not in process.output
    assert "garbage collected" not in process.output


@pytest.fixture
def base_url(server: ServerProcess) -> str:
    return server.url()


def test_view(base_url: str, server: ServerProcess) -> None:
    r = httpx.get(base_url + "/hello/?q=caf%C3%A9")
    assert r.status_code == 200
    assert r.json() == {
        "method": "GET",
        "path": "/hello/",
        "query": "café",
        "script_name": "",
        "multithread": server.proc.args[-1] == "4",
    }


def test_not_found(base_url: str) -> None:
    assert httpx.get(base_url + "/nope/").status_code == 404


def test_form_with_csrf_round_trip(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        page = client.get("/form/")
        assert page.status_code == 200
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match is not None and "csrftoken" in client.cookies
        r = client.post("/form/", data={"csrfmiddlewaretoken": match.group(1), "name": "Ada"})
        assert (r.status_code, r.text) == (200, "hello Ada")
        refused = client.post("/form/", data={"name": "Eve"})
        assert refused.status_code == 403


def test_admin_login(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        page = client.get("/admin/login/?next=/admin/")
        assert page.status_code == 200
        assert "Django administration" in page.text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None
        r = client.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": "admin",
                "password": PASSWORD,
                "next": "/admin/",
            },
        )
        assert r.status_code == 302 and r.headers["location"] == "/admin/"
        home = client.get("/admin/")
        assert home.status_code == 200
        assert "Site administration" in home.text


def test_file_upload(base_url: str) -> None:
    payload = os.urandom(5 * 1024 * 1024)
    with httpx.Client(base_url=base_url) as client:
        client.get("/form/")
        token = client.cookies["csrftoken"]
        r = client.post(
            "/upload/",
            files={"file": ("big.bin", payload, "application/octet-stream")},
            data={"note": "five megabytes", "csrfmiddlewaretoken": token},
            timeout=60,
        )
    assert r.status_code == 200
    assert r.json() == {
        "name": "big.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "note": "five megabytes",
        "on_disk": True,
    }


def test_file_response(base_url: str, django_env: dict[str, str]) -> None:
    r = httpx.get(base_url + "/file/")
    content = Path(django_env["DJANGO_E2E_FILE"]).read_bytes()
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(content))
    assert r.content == content
