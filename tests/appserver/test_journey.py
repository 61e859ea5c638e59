"""The request's journey through ``frontdesk serve`` as a real process: timing, trace, logs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.appserver.arbiter_support import Pool
from tests.support.processes import ServerProcess

WSGI = "tests.observe.journey_apps:wsgi_app"
ASGI = "tests.observe.journey_apps:asgi_app"
TIMING = re.compile(r"queue;dur=(\d+\.\d{3}), app;dur=(\d+\.\d{3})")


def _journey_headers(rid: str) -> dict[str, str]:
    return {
        "x-request-id": rid,
        "x-request-start": f"t={time.time_ns() // 1000}",
        "frontdesk-trace": "1",
    }


def _wait_for_text(path: Path, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            return text
        assert time.monotonic() < deadline, f"{needle!r} never appeared in the log:\n{text}"
        time.sleep(0.02)


def test_worker_behind_a_unix_socket_reports_its_journey(tmp_path: Path) -> None:
    log = tmp_path / "frontdesk.log"
    sock = tmp_path / "app.sock"
    args = ("-b", f"unix:{sock}", "--threads", "2", "--access-log", "--log-level", "warning")
    args += ("--log-file", str(log))
    with Pool(tmp_path, *args, app=WSGI, workers=1, logs_to_stderr=False) as pool:
        (worker,) = pool.ready_pids()
        transport = httpx.HTTPTransport(uds=str(sock))
        with httpx.Client(transport=transport, base_url="http://app") as client:
            slow = client.get("/slow?n=1", headers=_journey_headers("unix-1"))
            boom = client.get("/boom", headers=_journey_headers("unix-2"))
        # A unix socket peer is trusted: it can only be a local process (the edge).
        assert slow.status_code == 200 and boom.status_code == 500
        match = TIMING.fullmatch(slow.headers["server-timing"])
        assert match is not None
        assert float(match.group(2)) >= 200
        assert slow.headers["frontdesk-trace"] == (
            f'app; pid={worker}; interface=wsgi; app="{WSGI}"; worker=app#1'
        )
        # The error record comes first; the access line once the 500 has been sent.
        text = _wait_for_text(log, '/boom HTTP/1.1" 500 ')
    # Written through --log-file although --log-level hides other INFO records.
    assert re.search(
        r'INFO frontdesk\.access: - - "GET /slow\?n=1 HTTP/1\.1" 200 15 0\.2\d{3}s rid=unix-1', text
    )
    assert '"GET /boom HTTP/1.1" 500 ' in text
    assert "ERROR frontdesk.wsgi: Exception in WSGI application rid=unix-2" in text
    assert "RuntimeError: the app failed on purpose" in text  # the traceback, in the file
    assert "listening on" not in text  # INFO from the arbiter stays hidden


def test_untrusted_peer_headers_are_ignored() -> None:
    args = ["serve", ASGI, "-b", "127.0.0.1:0", "--workers", "0", "--access-log"]
    args += ["--forwarded-allow-ips", "10.0.0.1"]  # not the loopback client
    with ServerProcess(args) as server:
        url = server.url()
        response = httpx.get(url + "/", headers=_journey_headers("forged"))
        server.wait_for_line(r"frontdesk\.access: ")
    assert response.status_code == 200
    assert "server-timing" not in response.headers
    assert "frontdesk-trace" not in response.headers
    assert "forged" not in server.output
    assert re.search(
        r'frontdesk\.access: 127\.0\.0\.1 - "GET / HTTP/1\.1" 200 15 \S+s rid=-', server.output
    )


def test_trusted_loopback_without_access_log() -> None:
    args = ["serve", ASGI, "-b", "127.0.0.1:0", "--workers", "0"]
    with ServerProcess(args) as server:
        url = server.url()
        slow = httpx.get(url + "/slow", headers=_journey_headers("quiet-1"))
        boom = httpx.get(url + "/boom", headers={"x-request-id": "quiet-2"})
        server.wait_for_line(r"Exception in ASGI application rid=quiet-2")
        pid = server.proc.pid
    match = TIMING.fullmatch(slow.headers["server-timing"])
    assert match is not None and float(match.group(2)) >= 200
    # Without workers there is no worker name to give.
    assert slow.headers["frontdesk-trace"] == f'app; pid={pid}; interface=asgi; app="{ASGI}"'
    assert boom.status_code == 500
    assert "frontdesk.access" not in server.output
