"""``export_systemd``: the unit's text, ``systemd-analyze verify``, and its ExecStart run for real.

The last test plays systemd's part: it runs the unit's ExecStart with a ``NOTIFY_SOCKET``
and its Environment, then sends what ``systemctl reload`` and ``stop`` send, and checks the
notifications a ``Type=notify`` unit relies on and a clean exit within ``TimeoutStopSec``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from frontdesk.config import load_config
from frontdesk.errors import ConfigError
from frontdesk.stack.export import export_systemd

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(text: str) -> Unit:
    """Sections of a unit file, each a list of (key, value) in order; keys may repeat."""
    unit: Unit = {}
    section: list[tuple[str, str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            assert line[1:-1] not in unit, f"line {number}: section {line} twice"
            section = unit.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and section is not None and key == key.strip() and key.isidentifier(), (
            f"line {number}: not KEY=VALUE in a section: {line!r}"
        )
        section.append((key, value))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit[section] if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, (key, found)
    return found[0]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fdx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write_config(directory: Path, graceful: float = 7) -> Path:
    path = directory / "frontdesk.toml"
    path.write_text(
        f"""
[server]
bind = ["127.0.0.1:0"]
workers = 1
[worker]
graceful_timeout = {graceful}
[edge]
status_path = "/healthz"
[[apps]]
app = "tests.stack.echo_app:app"
mount = "/"
"""
    )
    return path


def test_unit_shape(short_dir: Path) -> None:
    path = _write_config(short_dir, graceful=7.5)
    config = load_config({"bind": ["0.0.0.0:80"]}, {}, str(path))
    files = export_systemd(config, None, config_path=str(path), user="www-data")
    assert list(files) == ["frontdesk.service"]
    unit = parse_unit(files["frontdesk.service"])
    assert list(unit) == ["Unit", "Service", "Install"]
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert one(unit, "Service", "KillMode") == "mixed"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "TimeoutStopSec") == "18"  # ceil(7.5) + 10
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "User") == "www-data"
    # A port below 1024 for a user that is not root.
    assert one(unit, "Service", "AmbientCapabilities") == "CAP_NET_BIND_SERVICE"
    exec_start = shlex.split(one(unit, "Service", "ExecStart"))
    assert exec_start == [
        sys.executable,
        "-m",
        "frontdesk",
        "run",
        "-c",
        str(path),
        "-b",
        "0.0.0.0:80",
    ]
    assert one(unit, "Service", "WorkingDirectory") == os.getcwd()
    assert "FRONTDESK_CONTROL_SOCKET=/run/frontdesk/control.sock" in values(
        unit, "Service", "Environment"
    )
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_app_on_the_command_line_and_quoting(short_dir: Path) -> None:
    config = load_config({}, {})
    files = export_systemd(
        config,
        "pkg.web:app",
        config_path=None,
        name="shop",
        python="/opt/my env/bin/python",
        working_directory="/srv/100%",
    )
    unit = parse_unit(files["shop.service"])
    assert (
        one(unit, "Service", "ExecStart") == '"/opt/my env/bin/python" -m frontdesk run pkg.web:app'
    )
    assert one(unit, "Service", "WorkingDirectory") == "/srv/100%%"
    assert one(unit, "Service", "RuntimeDirectory") == "shop"
    assert "User" not in dict(unit["Service"])
    assert "AmbientCapabilities" not in dict(unit["Service"])


def test_nothing_to_run_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nothing to run"):
        export_systemd(load_config({}, {}), None, config_path=None)
    with pytest.raises(ConfigError, match="unit name"):
        export_systemd(load_config({}, {}), "a:b", config_path=None, name="no/slash")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(short_dir: Path) -> None:
    path = _write_config(short_dir)
    files = export_systemd(load_config({}, {}, str(path)), None, config_path=str(path))
    for name, text in files.items():
        (short_dir / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(short_dir / n) for n in files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frontdesk.service" not in result.stderr, result.stderr  # no complaint about it


def test_exec_start_speaks_the_notify_protocol(short_dir: Path) -> None:
    path = _write_config(short_dir, graceful=5)
    files = export_systemd(load_config({}, {}, str(path)), None, config_path=str(path))
    unit = parse_unit(files["frontdesk.service"])
    runtime = short_dir / "run"
    runtime.mkdir()  # what RuntimeDirectory= makes
    env = dict(os.environ)
    for assignment in values(unit, "Service", "Environment"):
        key, _, value = assignment.partition("=")
        env[key] = value.replace("/run/frontdesk", str(runtime))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(short_dir / "notify.sock"))
    notify.settimeout(0.2)
    env["NOTIFY_SOCKET"] = str(short_dir / "notify.sock")
    log = (short_dir / "out.log").open("w")
    proc = subprocess.Popen(
        shlex.split(one(unit, "Service", "ExecStart")),
        cwd=one(unit, "Service", "WorkingDirectory"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    messages: list[str] = []

    def wait_for(field: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                messages.append(notify.recv(4096).decode())
            except TimeoutError:
                continue
            if field in messages[-1].split("\n"):
                return
        raise AssertionError(
            f"no {field} in {messages}; output:\n{(short_dir / 'out.log').read_text()}"
        )

    try:
        wait_for("READY=1")
        assert any(line.startswith("MAINPID=") for m in messages for line in m.split("\n"))
        assert (runtime / "control.sock").exists()  # where the unit puts it
        port = _edge_port(short_dir / "out.log")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).text == "ok\n"
        proc.send_signal(signal.SIGHUP)  # ExecReload
        wait_for("RELOADING=1")
        wait_for("READY=1")
        proc.send_signal(signal.SIGTERM)  # KillSignal
        wait_for("STOPPING=1")
        timeout_stop = int(one(unit, "Service", "TimeoutStopSec"))
        assert proc.wait(timeout_stop) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        notify.close()
        log.close()


def _edge_port(log: Path) -> int:
    import re

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return int(found[-1])
        time.sleep(0.05)
    raise AssertionError(f"no listening line:\n{log.read_text()}")
