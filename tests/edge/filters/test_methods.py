"""Allowed methods per route: 405 with Allow, GET implying HEAD, paths compared normalized."""

from __future__ import annotations

import httpx
import pytest

from frontdesk.edge.filters import MethodFilter
from frontdesk.edge.filters.methods import normalize_path
from tests.edge.filters.support import Scripted, serve, text
from tests.support.raw import exchange as raw_exchange

ROUTES = {"/": ["GET"], "/api": ["GET", "POST", "DELETE"], "/api/admin/": ["POST"]}


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        (b"/", b"/"),
        (b"/a//b/", b"/a/b"),
        (b"/%61pi", b"/api"),
        (b"/x/../api/./admin", b"/api/admin"),
        (b"/../../etc", b"/etc"),
    ],
)
def test_normalize_path(path: bytes, normal: bytes) -> None:
    assert normalize_path(path) == normal


def test_allowed_sets_by_longest_prefix() -> None:
    methods = MethodFilter(Scripted(text), ROUTES)
    assert methods.allowed_for(b"/api/admin/users") == ("POST",)
    assert methods.allowed_for(b"/api/users") == ("GET", "HEAD", "POST", "DELETE")
    assert methods.allowed_for(b"/apix") == ("GET", "HEAD")  # not under /api: under /
    assert methods.allowed_for(b"/%61pi/admin") == ("POST",)
    assert MethodFilter(Scripted(text), {"/api": ["GET"]}).allowed_for(b"/other") is None
    assert MethodFilter(Scripted(text), {}, default=["OPTIONS"]).allowed_for(b"*") == ("OPTIONS",)


def test_server_answers_405_with_allow() -> None:
    with (
        serve(MethodFilter(Scripted(text), ROUTES)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.get("/page").status_code == 200
        assert client.head("/page").status_code == 200
        refused = client.post("/page", content=b"x")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"
        assert client.delete("/api/items/1").status_code == 200
        refused = client.get("/api/admin/users")
        assert (refused.status_code, refused.headers["allow"]) == (405, "POST")
        assert client.post("/api/admin/users").status_code == 200
        # An encoded or dotted path cannot slip past its route's rule.
        assert client.get("/%61pi/admin/users").status_code == 405
        reply = raw_exchange(
            server.port,
            b"GET /x/../api/admin/users HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 405 ")
