"""``frontdesk ctl``: the control socket's answers, as JSON and as the command prints them."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import httpx

from frontdesk.appserver.control import request
from tests.appserver.arbiter_support import Pool
from tests.support.processes import run_cli


def ctl(pool: Pool, *args: str) -> tuple[int, str, str]:
    done = run_cli(["ctl", *args, "--control-socket", pool.control])
    return done.returncode, done.stdout, done.stderr


def test_status_shows_each_worker(tmp_path: Path) -> None:
    with Pool(tmp_path) as pool:
        pids = pool.wait_ready(2)
        assert stat.S_IMODE(os.stat(pool.control).st_mode) == 0o600
        with httpx.Client() as client:
            for _ in range(10):
                assert client.get(pool.url).status_code == 200
        # Counts reach the status with the next heartbeat tick (at most a second).
        status = pool.wait_status(
            lambda s: sum(w["requests"] for w in s["workers"]) == 10, "10 requests counted"
        )
        assert status["pid"] == pool.server.proc.pid
        assert status["app"] == "pool_apps:app"
        assert status["pools"] == [{"name": "app", "target": 2, "generation": 1, "ready": 2}]
        for worker in status["workers"]:
            assert worker["pid"] in pids
            assert worker["state"] == "ready"
            assert worker["generation"] == 1
            assert 0 < worker["age"] < 60
            assert worker["rss"] is None or worker["rss"] > 1024**2

        code, out, err = ctl(pool, "status")
        assert (code, err) == (0, "")
        head, columns, *rows = out.splitlines()
        assert head.startswith(f"arbiter {pool.server.proc.pid}  pool_apps:app  up ")
        assert "workers app 2/2" in head
        assert columns.split() == ["PID", "POOL", "GEN", "STATE", "AGE", "REQUESTS", "RSS", "MiB"]
        assert {int(row.split()[0]) for row in rows} == pids

        code, out, _ = ctl(pool, "status", "--json")
        assert code == 0 and json.loads(out)["workers"]


def test_add_remove_reload_stop(tmp_path: Path) -> None:
    with Pool(tmp_path, workers=1) as pool:
        [first] = pool.wait_ready(1)
        assert ctl(pool, "add", "2")[:2] == (0, "3 workers\n")
        assert len(pool.wait_ready(3)) == 3
        assert ctl(pool, "remove")[:2] == (0, "2 workers\n")
        old = pool.wait_ready(2)
        # reload answers once the new generation serves
        code, out, err = ctl(pool, "reload")
        assert (code, out, err) == (0, "generation 2 serving\n", "")
        new = pool.wait_ready(2, exclude=list(old))
        assert {w["generation"] for w in pool.status()["workers"]} == {2}
        assert first not in new
        assert ctl(pool, "stop")[:2] == (0, "stopping\n")
        assert pool.server.wait() == 0
    assert not Path(pool.control).exists()


def test_refusals_are_one_line_errors(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text("[log]\nlevel = 'info'\n")
    with Pool(tmp_path, "-c", str(config), workers=1) as pool:
        pool.wait_ready(1)
        config.write_text("[log]\nlevel = 'loud'\n")
        code, out, err = ctl(pool, "reload")
        assert code == 1 and out == ""
        assert err.startswith("frontdesk: error: reload refused: ") and err.count("\n") == 1
        assert request(pool.control, {"command": "dance"})["error"] == "unknown command 'dance'"
        assert request(pool.control, {"command": "add", "count": 0})["ok"] is False
        with socket.socket(socket.AF_UNIX) as raw:  # not JSON: answered, not fatal
            raw.connect(pool.control)
            raw.sendall(b"hello\n")
            assert b'"ok": false' in raw.recv(4096)
        assert pool.status()["ok"]
    code, out, err = ctl(pool, "status")
    assert code == 1
    assert err.startswith("frontdesk: error: no frontdesk arbiter listens on ")
    done = run_cli(["ctl", "stop", "3"])
    assert done.returncode == 2 and "takes no count" in done.stderr
