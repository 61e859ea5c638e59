"""The edge router: host first, longest prefix next, 404 when nothing claims a request."""

from __future__ import annotations

import httpx

from frontdesk.edge.router import Mount, Router, host_name
from frontdesk.http.exchange import Exchange
from tests.support.threaded import serving


class Named:
    def __init__(self, name: str, prefix: bytes = b"") -> None:
        self.name = name
        self.prefix = prefix

    def matches(self, path: bytes) -> bool:
        return True

    def handle(self, exchange: Exchange) -> None:
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.end(self.name.encode())


def test_host_name_strips_port_and_case() -> None:
    assert host_name(b"Example.COM:8080") == b"example.com"
    assert host_name(b"[::1]:8000") == b"[::1]"
    assert host_name(b"localhost") == b"localhost"


def test_dispatch_order() -> None:
    router = Router(
        [
            Mount(b"/", Named("root")),
            Mount(b"/static/", Named("static")),
            Mount(b"/static/img/", Named("images")),
            Mount(b"/", Named("api-host"), frozenset({b"api.test"})),
        ]
    )
    with serving(router) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/x").text == "root"
        assert client.get("/static/a.css").text == "static"
        assert client.get("/static/img/a.png").text == "images"
        assert client.get("/static/a.css", headers={"host": "API.test:1234"}).text == "api-host"


def test_no_route_is_404() -> None:
    router = Router([Mount(b"/only/", Named("only"))])
    with serving(router) as srv:
        r = httpx.get(srv.url + "/elsewhere")
    assert r.status_code == 404
