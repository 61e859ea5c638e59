"""``frontdesk edge --workers N``: edge workers under the arbiter, HUP reloads, TERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.appserver.arbiter_support import Pool, alive
from tests.support.load import Load
from tests.support.processes import ServerProcess


class EdgePool(Pool):
    """A running ``frontdesk edge -w N``; the control socket comes from the environment
    (``control_socket`` is not a flag of ``edge``), so it survives every reload."""

    def __init__(self, tmp_path: Path, *args: str, workers: int = 2) -> None:
        self.logs_to_stderr = True
        self.control = str(tmp_path / "control.sock")
        argv = ["edge", "-b", "127.0.0.1:0", "--log-level", "info", "-w", str(workers), *args]
        self.server = ServerProcess(argv, env={"FRONTDESK_CONTROL_SOCKET": self.control})
        self.url = ""


def _requests(status: dict[str, Any]) -> dict[int, int]:
    return {w["pid"]: w["requests"] or 0 for w in status["workers"]}


def _counted(total: int) -> Callable[[dict[str, Any]], bool]:
    return lambda status: sum(_requests(status).values()) >= total


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _site(tmp_path: Path, name: str, text: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "f.txt").write_text(text)
    return root


def _toml(path: Path, *routes: str) -> None:
    items = ", ".join(f'"{route}"' for route in routes)
    path.write_text(f"[edge]\nstatic = [{items}]\n")


def test_workers_serve_from_distinct_pids_and_term_exits_0(tmp_path: Path) -> None:
    root = _site(tmp_path, "a", "hello")
    with EdgePool(tmp_path, "--static", f"/s/={root}") as pool:
        pids = pool.wait_ready(2)
        assert len(pids) == 2
        assert all(_parent(pid) == pool.server.proc.pid for pid in pids)
        status = pool.status()
        assert (status["app"], status["pid"]) == ("edge", pool.server.proc.pid)
        assert [p["name"] for p in status["pools"]] == ["edge"]
        # Fresh connections in rounds until each worker has answered some (the kernel hands
        # each accepted connection to whichever worker takes it first).
        deadline = time.monotonic() + 20
        served: dict[int, int] = {}
        failed = 0
        while not (served and all(served.get(pid, 0) > 0 for pid in pids)):
            assert time.monotonic() < deadline, f"not every worker served: {served}"
            with Load(pool.url, path="/s/f.txt", connections=8, total=200) as load:
                load.wait_done(200)
            result = load.join()
            failed += result.failed
            assert set(result.bodies) == {"hello"}
            # The counts reach the arbiter with each worker's heartbeat (at most 1 s late).
            status = pool.wait_status(
                _counted(sum(served.values()) + 200), "the requests counted", timeout=10
            )
            served = _requests(status)
        assert failed == 0
        pool.server.signal(signal.SIGTERM)
        assert pool.server.wait(20) == 0
    assert not any(alive(pid) for pid in pids)
    assert "arbiter" in pool.server.output and "stopped" in pool.server.output


def test_hup_with_a_new_static_route_switches_under_load_losing_nothing(tmp_path: Path) -> None:
    a, b = _site(tmp_path, "a", "old"), _site(tmp_path, "b", "new")
    config = tmp_path / "edge.toml"
    _toml(config, f"/s/={a}")
    with EdgePool(tmp_path, "-c", str(config)) as pool:
        old = pool.wait_ready(2)
        assert httpx.get(pool.url + "/t/f.txt").status_code == 404
        with Load(pool.url, path="/s/f.txt", connections=4, total=30000) as load:
            load.wait_done(500)
            _toml(config, f"/s/={a}", f"/t/={b}")
            pool.server.signal(signal.SIGHUP)
            new = pool.wait_ready(2, exclude=list(old), timeout=20)
            deadline = time.monotonic() + 20
            while any(alive(pid) for pid in old):
                assert time.monotonic() < deadline, "old workers did not exit"
                time.sleep(0.02)
            load.wait_done(load.done + 500)
            load.stop()
        result = load.join()
        answer = httpx.get(pool.url + "/t/f.txt")
        assert (answer.status_code, answer.text) == (200, "new")
        pool.server.wait_for_line("reload complete")
    assert result.failed == 0, result.errors
    assert result.total >= 1000
    assert set(result.bodies) == {"old"}
    assert not old & new


def test_hup_with_an_invalid_config_is_refused_and_the_old_one_serves(tmp_path: Path) -> None:
    a = _site(tmp_path, "a", "old")
    config = tmp_path / "edge.toml"
    _toml(config, f"/s/={a}")
    with EdgePool(tmp_path, "-c", str(config)) as pool:
        pids = pool.wait_ready(2)
        refusals: list[tuple[str, str]] = [
            ("[edge]\nstatic = [\n", r"reload refused: .*edge\.toml:\d+: invalid TOML"),
            (
                f'[edge]\nstatic = ["/t/={tmp_path / "missing"}"]\n',
                r"reload refused: static root .*missing.* is not a directory",
            ),
            ("[worker]\ngraceful_timeout = -1\n", r"reload refused: .*graceful_timeout = -1"),
        ]
        for text, pattern in refusals:
            config.write_text(text)
            pool.server.signal(signal.SIGHUP)
            pool.server.wait_for_line(pattern)
            assert pool.wait_ready(2) == pids
            answer = httpx.get(pool.url + "/s/f.txt")
            assert (answer.status_code, answer.text) == (200, "old")
        reply: dict[str, Any] = pool.status()
        assert {w["pid"] for w in reply["workers"]} == pids
    assert "reload complete" not in pool.server.output
