"""``frontdesk serve`` options, each observed through a real process and a real client."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "appserver" / "apps")


def serve(*args: str) -> ServerProcess:
    return ServerProcess(["serve", *args, "--app-dir", APPS, "-w", "0"])


def test_factory_and_root_path() -> None:
    with serve(
        "scope_apps:create_app", "--factory", "--root-path", "/api", "-b", "127.0.0.1:0"
    ) as s:
        info = httpx.get(s.url() + "/items").json()
    assert info["root_path"] == "/api"
    assert info["path"] == "/api/items"


def test_interface_forced_asgi2() -> None:
    with serve("scope_apps:Asgi2App", "--interface", "asgi2", "-b", "127.0.0.1:0") as s:
        assert httpx.get(s.url()).text == "asgi2"


def test_unix_socket_mode_and_server_scope(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with serve("scope_apps:scope_echo", "-b", f"unix:{path}", "--unix-mode", "600") as s:
        s.url()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
            info = client.get("http://localhost/").json()
    # ASGI: a unix socket server is [path, None]; the client of a unix socket is unknown.
    assert info["server"] == [str(path), None]
    assert info["client"] is None


def test_ipv6_bind() -> None:
    if not socket.has_ipv6:
        return
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        return  # no IPv6 loopback on this machine
    with serve("scope_apps:scope_echo", "-b", "[::1]:0") as s:
        url = s.url()
        assert url.startswith("http://[::1]:")
        assert httpx.get(url).json()["client"][0] == "::1"


def test_fd_bind_from_parent() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    fd = sock.fileno()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frontdesk",
            "serve",
            "scope_apps:scope_echo",
            "--app-dir",
            APPS,
            "-b",
            f"fd://{fd}",
        ],
        pass_fds=(fd,),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sock.close()  # the child holds its own copy
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.ConnectError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read() if proc.stdout else "") from None
                assert time.monotonic() < deadline, "the server on the inherited fd never answered"
                time.sleep(0.05)
        assert r.json()["server"] == ["127.0.0.1", port]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out


def test_forwarded_headers_trusted_only_from_allowed_peers() -> None:
    headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    with serve("scope_apps:scope_echo", "-b", "127.0.0.1:0") as s:
        info = httpx.get(s.url(), headers=headers).json()
    assert info["client"][0] == "203.0.113.7"  # loopback is trusted by default
    assert info["scheme"] == "https"
    with serve(
        "scope_apps:scope_echo", "-b", "127.0.0.1:0", "--forwarded-allow-ips", "10.0.0.0/8"
    ) as s:
        info = httpx.get(s.url(), headers=headers).json()
    assert info["client"][0] == "127.0.0.1"
    assert info["scheme"] == "http"


def test_limit_max_requests_stops_gracefully() -> None:
    with serve("scope_apps:scope_echo", "-b", "127.0.0.1:0", "--limit-max-requests", "3") as s:
        url = s.url()
        with httpx.Client() as client:
            for _ in range(3):
                assert client.get(url).status_code == 200
        assert s.wait(15) == 0
