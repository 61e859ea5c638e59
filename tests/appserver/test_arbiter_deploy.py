"""Deployment hooks: systemd (socket activation, sd_notify), pid file, users, log files, env."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.appserver.arbiter_support import APPS, Pool
from tests.support.processes import REPO, ServerProcess


def test_sd_notify_ready_reloading_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.settimeout(15)

        def receive(field: str) -> str:
            while True:
                message = notify.recv(4096).decode()
                if field in message.splitlines():
                    return message

        with Pool(tmp_path, env={"NOTIFY_SOCKET": path}) as pool:
            ready = receive("READY=1")
            assert f"MAINPID={pool.server.proc.pid}" in ready
            pool.server.signal(signal.SIGHUP)
            assert "MONOTONIC_USEC=" in receive("RELOADING=1")
            receive("READY=1")
            pool.server.signal(signal.SIGTERM)
            receive("STOPPING=1")
            assert pool.server.wait() == 0


def test_socket_activation_serves_on_the_passed_socket(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    # systemd's contract: the sockets start at fd 3, LISTEN_PID is the server's own pid. A
    # tiny launcher puts the socket at fd 3 and execs frontdesk, keeping its pid.
    launcher = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); "
        "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid())); "
        "os.execv(sys.executable, [sys.executable, '-m', 'frontdesk', *sys.argv[2:]])"
    )
    control = str(tmp_path / "control.sock")
    argv = [sys.executable, "-c", launcher, str(listener.fileno()), "serve", "pool_apps:app"]
    argv += ["--app-dir", APPS, "-w", "2", "-b", "127.0.0.1:1", "--control-socket", control]
    proc = subprocess.Popen(
        argv,
        pass_fds=(listener.fileno(),),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    listener.close()
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "using 1 sockets passed by systemd; --bind is ignored" in out


def test_pid_file_is_written_and_removed(tmp_path: Path) -> None:
    pid_file = tmp_path / "frontdesk.pid"
    with Pool(tmp_path, "--pid", str(pid_file)) as pool:
        assert pid_file.read_text() == f"{pool.server.proc.pid}\n"
        pool.server.signal(signal.SIGTERM)
        assert pool.server.wait() == 0
    assert not pid_file.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_and_group_apply_to_workers_not_the_arbiter(tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    tmp_path.chmod(0o755)
    # The worker imports the app as nobody: give it a copy in a directory nobody can reach
    # (the checkout, and pytest's tmp_path below /tmp/pytest-of-root, may be root's alone).
    readable = Path(tempfile.mkdtemp(prefix="frontdesk-nobody-"))
    readable.chmod(0o755)
    shutil.copy(Path(APPS) / "pool_apps.py", readable / "pool_apps.py")
    (readable / "pool_apps.py").chmod(0o644)
    try:
        _run_as_nobody(tmp_path, readable, nobody)
    finally:
        shutil.rmtree(readable, ignore_errors=True)


def _run_as_nobody(tmp_path: Path, app_dir: Path, nobody: Any) -> None:
    with Pool(tmp_path, "--user", "nobody", "--app-dir", str(app_dir), workers=1) as pool:
        [worker] = pool.wait_ready(1)
        assert httpx.get(pool.url).status_code == 200
        assert os.stat(f"/proc/{worker}").st_uid == nobody.pw_uid
        assert os.stat(f"/proc/{worker}").st_gid == nobody.pw_gid
        assert os.stat(f"/proc/{pool.server.proc.pid}").st_uid == 0


def test_unknown_user_is_a_config_error(tmp_path: Path) -> None:
    args = ["serve", "pool_apps:app", "--app-dir", APPS, "-b", "127.0.0.1:0", "-w", "1"]
    args += ["--control-socket", "none", "--user", "no-such-user-here"]
    with ServerProcess(args) as server:
        assert server.wait() == 2
    assert "--user 'no-such-user-here': no such user" in server.output


def test_usr1_reopens_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "frontdesk.log"
    rotated = tmp_path / "frontdesk.log.1"
    with Pool(tmp_path, "--log-file", str(log), workers=1, logs_to_stderr=False) as pool:
        assert "listening on" in log.read_text()
        log.rename(rotated)
        pool.server.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 15
        while not log.exists():
            assert time.monotonic() < deadline, "the log file was not reopened"
            time.sleep(0.02)
        pool.server.signal(signal.SIGTERM)
        assert pool.server.wait() == 0
    assert "reopening log files" in rotated.read_text()
    assert "arbiter" in log.read_text() and "stopped" in log.read_text()


def test_process_titles_name_the_role_and_the_app(tmp_path: Path) -> None:
    pytest.importorskip("setproctitle")
    with Pool(tmp_path, workers=1) as pool:
        [worker] = pool.wait_ready(1)

        def title(pid: int) -> str:
            return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()

        assert title(pool.server.proc.pid) == "frontdesk: arbiter pool_apps:app"
        assert title(worker) == "frontdesk: worker pool_apps:app"


def test_web_concurrency_sets_the_number_of_workers(tmp_path: Path) -> None:
    with Pool(tmp_path, workers=None, env={"WEB_CONCURRENCY": "3"}) as pool:
        assert len(pool.wait_ready(3)) == 3


def test_reload_without_watchfiles_is_a_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from frontdesk.appserver.reload import require_watchfiles
    from frontdesk.errors import ConfigError

    monkeypatch.setitem(sys.modules, "watchfiles", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"--reload needs the watchfiles package: pip install"):
        require_watchfiles()
