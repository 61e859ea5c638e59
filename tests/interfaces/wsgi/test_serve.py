"""``frontdesk serve`` with WSGI apps, in a real process: detection, threads, shutdown."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServerProcess
from tests.support.raw import read_until_closed

from .helpers import Reply

APPS = str(Path(__file__).parent)


def serve(*args: str) -> ServerProcess:
    return ServerProcess(["serve", *args, "--app-dir", APPS, "-b", "127.0.0.1:0"])


@pytest.mark.parametrize("threads", ["1", "4"])
def test_wsgi_app_detected_and_served(threads: str) -> None:
    with serve("wsgi_serve_apps:info", "--threads", threads) as server:
        r = httpx.post(server.url() + "/x%20y", content=b"payload")
    assert r.status_code == 200
    assert r.json() == {
        "script_name": "",
        "path_info": "/x y",
        "multithread": threads == "4",
        "body": "payload",
    }


def test_forced_interface_and_root_path() -> None:
    with serve("wsgi_serve_apps:callable_info", "--interface", "wsgi", "--root-path", "/api") as s:
        r = httpx.get(s.url() + "/items")
    assert r.json()["script_name"] == "/api"
    assert r.json()["path_info"] == "/items"


@pytest.mark.parametrize("threads", ["1", "4"])
def test_sigterm_lets_the_request_in_flight_finish(threads: str) -> None:
    with serve("wsgi_serve_apps:info", "--threads", threads) as server:
        port = int(server.url().rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n"
        )
        # The interim answer says the server is reading the body: the request is in flight.
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"half")
        server.signal(signal.SIGTERM)
        server.wait_for_line("shutting down")
        sock.sendall(b"-way")
        reply = Reply(read_until_closed(sock, timeout=15))
        sock.close()
        assert server.wait() == 0
    assert reply.status == 200 and reply.json()["body"] == "half-way"
