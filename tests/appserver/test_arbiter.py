"""The arbiter as real processes: boot, stop, and workers that die, wedge or crash."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.appserver.arbiter_support import APPS, Pool, alive
from tests.support.load import Load
from tests.support.processes import run_cli


def test_workers_answer_and_term_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    with Pool(tmp_path, env={"POOL_APP_LOG": str(notes)}) as pool:
        pids = pool.wait_ready(2)
        assert int(httpx.get(pool.url).text.split()[0]) in pids
        result: dict[str, object] = {}

        def slow() -> None:
            try:
                result["response"] = httpx.get(pool.url + "/slow", timeout=20)
            except Exception as exc:  # reported below
                result["error"] = exc

        client = threading.Thread(target=slow)
        client.start()
        deadline = time.monotonic() + 15
        while "slow-start" not in (notes.read_text() if notes.exists() else ""):
            assert time.monotonic() < deadline, "the slow request never reached the app"
            time.sleep(0.02)
        started = time.monotonic()
        pool.server.signal(signal.SIGTERM)
        client.join(20)
        assert "error" not in result, result
        response = result["response"]
        assert isinstance(response, httpx.Response) and response.status_code == 200
        assert pool.server.wait(15) == 0
        assert time.monotonic() - started < 10
    assert not any(alive(pid) for pid in pids)
    assert "SIGTERM: stopping gracefully" in pool.server.output


def test_boot_failure_stops_with_one_line_and_status_3() -> None:
    for extra in ([], ["--preload"]):
        args = ["serve", "broken_module:app", "--app-dir", APPS, "-b", "127.0.0.1:0"]
        result = run_cli([*args, "-w", "2", "--control-socket", "none", *extra])
        assert result.returncode == 3, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "this module fails while importing" in lines[0]
        assert lines[0].startswith("frontdesk: error: ")


def test_sigkilled_worker_is_replaced_within_a_second_under_load(tmp_path: Path) -> None:
    connections = 4
    with Pool(tmp_path) as pool:
        before = pool.wait_ready(2)
        victim = min(before)
        with Load(pool.url, connections=connections, total=20000) as load:
            load.wait_done(300)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            after = pool.wait_ready(2, exclude=[victim], timeout=10)
            replaced_in = time.monotonic() - killed_at
            mark = load.done
            load.wait_done(mark + 1000)
            load.stop()
        result = load.join()
    assert replaced_in < 1.0, replaced_in
    assert len(after - before) == 1
    # Only requests on the killed worker's connections can fail: at most one per connection
    # (its in-flight one; the client then reconnects to a live worker).
    assert result.failed <= connections, result.errors
    assert result.ok >= 1300
    assert f"worker {victim} killed by SIGKILL unexpectedly" in pool.server.output


def test_wedged_worker_is_aborted_with_its_stack_and_replaced(tmp_path: Path) -> None:
    with Pool(tmp_path, "--timeout", "1", workers=1) as pool:
        [wedged] = pool.wait_ready(1)

        def block() -> None:
            try:
                httpx.get(pool.url + "/block", timeout=20)
            except httpx.HTTPError:
                pass  # the worker is killed under it: expected

        client = threading.Thread(target=block)
        client.start()
        [fresh] = pool.wait_ready(1, exclude=[wedged], timeout=15)
        client.join(20)
        assert httpx.get(pool.url).text.startswith(f"{fresh} ")
    output = pool.server.output  # complete: the process has exited
    assert f"worker {wedged} timed out: its event loop has not ticked for" in output
    assert "(timeout 1 s); aborting it" in output
    assert "in app" in output and "pool_apps.py" in output  # faulthandler's dump of the stack
    assert f"worker {wedged} killed by SIGABRT after its timeout" in output


def test_crashing_workers_are_replaced_with_back_off(tmp_path: Path) -> None:
    with Pool(tmp_path, workers=1) as pool:
        seen: list[int] = []
        for _ in range(3):
            [pid] = pool.wait_ready(1, exclude=seen, timeout=15)
            seen.append(pid)
            try:
                httpx.get(pool.url + "/crash", timeout=10)
            except httpx.HTTPError:
                pass  # the worker exits under the request
        pool.server.wait_for_line(
            "workers keep failing \\(3 in the last minute\\); next start in 1.0 s"
        )
        [last] = pool.wait_ready(1, exclude=seen, timeout=15)
        assert httpx.get(pool.url).text.startswith(f"{last} ")


def test_ttin_and_ttou_add_and_remove_workers(tmp_path: Path) -> None:
    with Pool(tmp_path, workers=1) as pool:
        [first] = pool.wait_ready(1)
        pool.server.signal(signal.SIGTTIN)
        pool.wait_ready(2)  # one at a time: two signals sent at once may arrive as one
        pool.server.signal(signal.SIGTTIN)
        three = pool.wait_ready(3)
        assert first in three
        pool.server.signal(signal.SIGTTOU)
        two = pool.wait_ready(2)
        assert two < three
        assert pool.status()["pools"][0]["target"] == 2
        pool.server.wait_for_line("app workers: 3 -> 2")


def test_quit_stops_fast(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    with Pool(tmp_path, env={"POOL_APP_LOG": str(notes)}) as pool:
        pids = pool.wait_ready(2)
        failed: list[BaseException] = []

        def slow() -> None:
            try:
                httpx.get(pool.url + "/slow", timeout=20)
            except httpx.HTTPError as exc:
                failed.append(exc)

        client = threading.Thread(target=slow)
        client.start()
        deadline = time.monotonic() + 15
        while "slow-start" not in (notes.read_text() if notes.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        pool.server.signal(signal.SIGQUIT)
        assert pool.server.wait(10) == 0
        client.join(10)
        assert time.monotonic() - started < 1.5  # not the 2 s the request wanted
    assert failed, "a fast stop cuts off the request in flight"
    assert not any(alive(pid) for pid in pids)
