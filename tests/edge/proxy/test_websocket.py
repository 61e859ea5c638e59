"""WebSocket upgrades tunnelled through the proxy to uvicorn, with the websockets client."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from frontdesk.edge.proxy import UpstreamGroup
from tests.edge.proxy.backends import proxy, wait_until


def test_websocket_echo_through_the_proxy(uvicorn_url: str, loop_kind: str) -> None:
    with proxy(UpstreamGroup([uvicorn_url]), loop_kind=loop_kind) as (server, route):
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "echo:hello"
            big = bytes(range(256)) * 4096  # 1 MiB each way: flow control in the tunnel
            ws.send(big)
            assert ws.recv(timeout=10) == big
            ws.send("close")
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=10)
        assert ws.close_code == 1000
        assert route.stats.tunnels == 1
        # The tunnel is gone from the server's connections once both sides closed.
        wait_until(lambda: not server.server or not server.server.connections, what="tunnel end")
        # The proxy still serves plain HTTP to the same backend.
        assert httpx.get(server.url + "/whoami", timeout=10).json()["name"] == "u1"


def test_client_closing_first_closes_the_upstream_side(uvicorn_url: str) -> None:
    with proxy(UpstreamGroup([uvicorn_url])) as (server, route):
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        for n in range(3):
            with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
                ws.send(f"m{n}")
                assert ws.recv(timeout=10) == f"echo:m{n}"
            assert ws.close_code == 1000
        assert route.stats.tunnels == 3
        wait_until(lambda: not server.server or not server.server.connections, what="tunnel end")


def test_a_refused_upgrade_is_an_ordinary_response(gunicorn_urls: tuple[str, str]) -> None:
    # gunicorn's WSGI app answers the upgrade request with a plain 404.
    with proxy(UpstreamGroup([gunicorn_urls[0]])) as (server, route):
        r = httpx.get(
            server.url + "/nowhere",
            headers={"connection": "upgrade", "upgrade": "websocket"},
            timeout=10,
        )
        assert r.status_code == 404 and route.stats.tunnels == 0
