"""``frontdesk edge`` as a real process, in front of real gunicorn, uvicorn and frontdesk."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess, run_cli

APPS = REPO / "tests" / "edge" / "proxy" / "apps"


def _answers(path: Path) -> bool:
    """Whether a server on the unix socket ``path`` answers an HTTP request."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(str(path))
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        return sock.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        sock.close()


@dataclass
class Backend:
    url: str
    proc: subprocess.Popen[bytes]


@contextmanager
def backend(kind: str, name: str, socket_path: Path) -> Iterator[Backend]:
    """A real gunicorn or uvicorn on a unix socket, for the edge to proxy to."""
    env = {"BACKEND_NAME": name, "PYTHONPATH": str(APPS)}
    if kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", "wsgi_app:app", "-b", f"unix:{socket_path}"]
        argv += ["-w", "1", "-k", "gthread", "--threads", "4", "--log-level", "warning"]
    else:
        argv = [sys.executable, "-m", "uvicorn", "asgi_app:app", "--uds", str(socket_path)]
        argv += ["--log-level", "warning"]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=APPS, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _answers(socket_path):
            assert proc.poll() is None, f"{kind} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{kind} never answered"
            time.sleep(0.05)
        yield Backend(f"unix:{socket_path}", proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def edge(*args: str) -> ServerProcess:
    return ServerProcess(["edge", "-b", "127.0.0.1:0", "--log-level", "info", *args])


def test_static_and_proxy_to_gunicorn_and_uvicorn(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.css").write_text("body { color: red }\n" * 50)
    with (
        backend("gunicorn", "g", tmp_path / "g.sock") as g,
        backend("uvicorn", "u", tmp_path / "u.sock") as u,
        edge("--static", f"/static/={site}", "--proxy", g.url, "--proxy", u.url) as front,
        httpx.Client(base_url=front.url()) as client,
    ):
        css = client.get("/static/app.css")
        assert css.status_code == 200
        assert css.text == "body { color: red }\n" * 50
        assert css.headers["content-type"].startswith("text/css")
        names = [client.get("/whoami").json()["name"] for _ in range(6)]
        assert sorted(set(names)) == ["g", "u"]  # round-robin over both
        assert names[0] != names[1]


def test_static_files_are_compressed_on_every_request_that_asks(tmp_path: Path) -> None:
    # The second request for a file is answered from its ready head: through the
    # compression filter all the same, so each client gets what its Accept-Encoding asks.
    site = tmp_path / "site"
    site.mkdir()
    text = "a stylesheet that repeats itself { color: red }\n" * 100
    (site / "app.css").write_text(text)
    with edge("--static", f"/={site}") as front, httpx.Client(base_url=front.url()) as client:
        for accept in ["gzip", "identity", "gzip", "gzip", "identity"]:
            with client.stream("GET", "/app.css", headers={"accept-encoding": accept}) as r:
                raw = b"".join(r.iter_raw())
            assert r.status_code == 200 and r.headers["vary"] == "accept-encoding"
            if accept == "gzip":
                assert r.headers["content-encoding"] == "gzip"
                assert zlib.decompress(raw, 16 + zlib.MAX_WBITS) == text.encode()
            else:
                assert "content-encoding" not in r.headers and raw == text.encode()


def test_one_backend_killed_under_load_loses_no_idempotent_request(tmp_path: Path) -> None:
    with (
        backend("uvicorn", "a", tmp_path / "a.sock") as a,
        backend("uvicorn", "b", tmp_path / "b.sock") as b,
        edge("--proxy", a.url, "--proxy", b.url) as front,
    ):
        url = front.url()
        failures = 0
        served_by: set[str] = set()
        with httpx.Client(base_url=url) as client:
            for i in range(400):
                if i == 100:
                    a.proc.kill()  # SIGKILL: in-flight and pooled connections die with it
                    a.proc.wait(10)
                r = client.get("/whoami")
                failures += r.status_code != 200
                served_by.add(r.json()["name"] if r.status_code == 200 else "")
        assert failures == 0
        assert served_by == {"a", "b"}


def test_self_signed_tls_and_hsts(tmp_path: Path) -> None:
    site = tmp_path / "s"
    site.mkdir()
    (site / "index.html").write_text("<h1>secure</h1>")
    with edge("--self-signed", "--hsts", "600", "--static", f"/={site}") as front:
        url = front.url()
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        r = httpx.get(url + "/", verify=context)
        assert r.text == "<h1>secure</h1>"
        assert r.headers["strict-transport-security"].startswith("max-age=600")


def test_deny_and_rate_limit(tmp_path: Path) -> None:
    site = tmp_path / "s"
    site.mkdir()
    (site / "f.txt").write_text("x")
    with edge("--static", f"/={site}", "--deny", "127.0.0.0/8") as front:
        assert httpx.get(front.url() + "/f.txt").status_code == 403
    with (
        edge("--static", f"/={site}", "--rate-limit", "1", "--rate-burst", "3") as front,
        httpx.Client(base_url=front.url()) as client,
    ):
        codes = [client.get("/f.txt").status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200]
        assert 429 in codes[3:]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_through_the_edge(tmp_path: Path) -> None:
    with backend("gunicorn", "g", tmp_path / "g.sock") as g, edge("--proxy", g.url) as front:
        out = subprocess.run(
            [
                "curl",
                "-s",
                "--compressed",
                "-H",
                "X-Forwarded-For: 6.6.6.6",
                front.url() + "/whoami",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert '"name": "g"' in out.stdout


def test_nothing_to_serve_is_a_one_line_error() -> None:
    result = run_cli(["edge", "-b", "127.0.0.1:0"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "nothing to serve" in result.stderr
    bad = run_cli(["edge", "-b", "127.0.0.1:0", "--static", "nodir"])
    assert bad.returncode == 2
    assert "PREFIX=DIR" in bad.stderr
