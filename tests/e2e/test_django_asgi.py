"""Django's own ASGI handler, with an async view, through ``frontdesk serve``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "e2e" / "apps")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    args = ["serve", "django_asgi:application", "--app-dir", APPS, "-b", "127.0.0.1:0"]
    with ServerProcess(args) as server:
        yield server.url()


def test_async_view(base_url: str) -> None:
    r = httpx.get(base_url + "/async/?q=caf%C3%A9")
    assert r.status_code == 200
    assert r.json() == {"method": "GET", "path": "/async/", "query": "café"}


def test_request_body(base_url: str) -> None:
    r = httpx.post(
        base_url + "/echo/",
        content=b"x" * 100_000,
        headers={"content-type": "application/octet-stream"},
    )
    assert r.json() == {"length": 100_000, "type": "application/octet-stream"}


def test_not_found_from_django(base_url: str) -> None:
    assert httpx.get(base_url + "/nope/").status_code == 404
