"""``frontdesk serve`` as a real process: load, listen, serve, lifespan, signals, errors."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess, run_cli

APPS = str(REPO / "tests" / "appserver" / "apps")


def test_readme_example_app_serves_and_stops_cleanly() -> None:
    with ServerProcess(
        ["serve", "examples.hello_asgi:app", "-w", "0", "-b", "127.0.0.1:0"]
    ) as server:
        url = server.url()
        r = httpx.get(url + "/hi")
        assert r.status_code == 200
        assert r.text == "Hello from frontdesk! You asked for /hi\n"
        server.signal(signal.SIGTERM)
        assert server.wait() == 0


def test_lifespan_state_reaches_requests_and_shutdown_runs(tmp_path: Path) -> None:
    log = tmp_path / "lifespan.log"
    args = ["serve", "lifespan_apps:with_state", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    with ServerProcess(args, env={"LIFESPAN_LOG": str(log)}) as server:
        url = server.url()
        assert log.read_text() == "startup\n"  # startup completed before we could connect
        assert httpx.get(url).text == "hello from startup"
        server.signal(signal.SIGINT)
        assert server.wait() == 0
    assert log.read_text() == "startup\nshutdown\n"


def test_unix_socket_bind(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    args = [
        "serve",
        "lifespan_apps:no_lifespan",
        "--app-dir",
        APPS,
        "-w",
        "0",
        "-b",
        f"unix:{path}",
    ]
    with ServerProcess(args) as server:
        assert server.url() == f"unix:{path}"
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport) as client:
            assert client.get("http://localhost/").text == "ok"
    assert "lifespan" in server.output  # said once that the app runs without lifespan


def test_term_lets_in_flight_request_finish(tmp_path: Path) -> None:
    log = tmp_path / "lifespan.log"
    args = ["serve", "lifespan_apps:with_state", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    with ServerProcess(args, env={"LIFESPAN_LOG": str(log)}) as server:
        url = server.url()
        result: dict[str, object] = {}

        def slow() -> None:
            try:
                result["response"] = httpx.get(url + "/slow", timeout=20)
            except Exception as exc:  # reported below
                result["error"] = exc

        client = threading.Thread(target=slow)
        client.start()
        # Signal only once the app is inside the 2-second request.
        deadline = time.monotonic() + 15
        while "slow-start" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the slow request never reached the app"
            time.sleep(0.02)
        server.signal(signal.SIGTERM)
        client.join(20)
        assert "error" not in result, result
        response = result["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200
        assert server.wait() == 0


def test_startup_failed_exits_nonzero_with_message() -> None:
    result = run_cli(
        ["serve", "lifespan_apps:startup_fails", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    )
    assert result.returncode != 0
    assert "database unreachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module:app", "cannot import module 'no_such_module'"),
        ("lifespan_apps:missing", "has no attribute 'missing'"),
        ("lifespan_apps:not_an_app", "is not an application"),
        ("broken_module:app", "this module fails while importing"),
    ],
)
def test_app_load_errors_are_one_line(app: str, message: str) -> None:
    result = run_cli(["serve", app, "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"])
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_app_path_is_a_usage_error() -> None:
    result = run_cli(["serve", "nocolon"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "MODULE:ATTRIBUTE" in result.stderr


def test_bind_failure_is_a_config_error() -> None:
    with ServerProcess(
        ["serve", "examples.hello_asgi:app", "-w", "0", "-b", "127.0.0.1:0"]
    ) as first:
        port = first.url().rsplit(":", 1)[1]
        result = run_cli(["serve", "examples.hello_asgi:app", "-w", "0", "-b", f"127.0.0.1:{port}"])
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
