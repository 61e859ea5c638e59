"""Rolling reloads (HUP) and recycling (max requests, max RSS) under load, losing nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.appserver.arbiter_support import Pool, alive
from tests.support.devapp import write_devapp
from tests.support.load import Load


@pytest.mark.parametrize("app", ["pool_apps:app", "pool_apps:wsgi_app"], ids=["asgi", "wsgi"])
def test_hup_under_load_loses_no_request_and_serves_the_new_code(tmp_path: Path, app: str) -> None:
    version = tmp_path / "version"
    version.write_text("v1")
    with Pool(tmp_path, app=app, env={"POOL_APP_VERSION_FILE": str(version)}) as pool:
        old = pool.wait_ready(2)
        with Load(pool.url, connections=4, total=30000) as load:
            load.wait_done(1000)
            version.write_text("v2")
            pool.server.signal(signal.SIGHUP)
            new = pool.wait_ready(2, exclude=list(old), timeout=20)
            # Old workers have exited; load goes on against the new generation only.
            deadline = time.monotonic() + 20
            while any(alive(pid) for pid in old):
                assert time.monotonic() < deadline, "old workers did not exit"
                time.sleep(0.02)
            load.wait_done(max(3000, load.done + 1000))
            load.stop()
        result = load.join()
    assert result.failed == 0, result.errors
    assert result.total >= 3000
    answered = {int(body.split()[0]) for body in result.bodies}
    assert answered & old and answered & new
    assert {body.split()[1] for body in result.bodies} == {"v1", "v2"}
    assert all(body.endswith(" v2") for body in result.order[-200:])
    assert "reload complete" in pool.server.output


def test_hup_with_an_invalid_config_is_refused_and_a_valid_one_applies(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text("[server]\nworkers = 2\n[worker]\ngraceful_timeout = 5\n")
    with Pool(tmp_path, "-c", str(config), workers=None) as pool:
        pids = pool.wait_ready(2)
        config.write_text("[worker]\ngraceful_timeout = -1\n")
        pool.server.signal(signal.SIGHUP)
        pool.server.wait_for_line("reload refused: .*:2: worker.graceful_timeout = -1")
        assert pool.wait_ready(2) == pids
        assert httpx.get(pool.url).status_code == 200
        # The file is read again on each reload: a valid one now applies, workers too.
        config.write_text("[server]\nworkers = 3\n")
        pool.server.signal(signal.SIGHUP)
        three = pool.wait_ready(3, exclude=list(pids))
        assert len(three) == 3


def test_reload_whose_code_does_not_import_keeps_the_old_workers(tmp_path: Path) -> None:
    version = tmp_path / "version"
    version.write_text("v1")
    with Pool(tmp_path, env={"POOL_APP_VERSION_FILE": str(version)}) as pool:
        pids = pool.wait_ready(2)
        version.write_text("raise")
        pool.server.signal(signal.SIGHUP)
        pool.server.wait_for_line(
            "reload failed: .*this version of the app does not import; "
            "the previous workers keep serving"
        )
        assert pool.wait_ready(2) == pids
        assert httpx.get(pool.url).text.endswith(" v1")


def test_max_requests_recycles_under_load_without_failures(tmp_path: Path) -> None:
    args = ("--max-requests", "300", "--max-requests-jitter", "50")
    with Pool(tmp_path, *args) as pool:
        first = pool.wait_ready(2)
        with Load(pool.url, connections=4, total=3000) as load:
            load.wait_done(3000)
        result = load.join()
        # 3000 requests, at most 350 a worker: one at least reached its limit, asked for a
        # replacement, and was stopped once that replacement was ready.
        pool.server.wait_for_line("reached its request limit; asking for a replacement")
        pool.server.wait_for_line(r"stopped \(max-requests;")
        assert pool.wait_ready(2) != first
    assert result.failed == 0, result.errors
    assert result.ok == 3000
    assert len({body.split()[0] for body in result.bodies}) >= 2


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="RSS is read from /proc")
def test_max_rss_replaces_a_worker_that_grew(tmp_path: Path) -> None:
    with Pool(tmp_path, "--max-rss", "100", workers=1) as pool:
        [grown] = pool.wait_ready(1)
        assert httpx.get(pool.url + "/grow", timeout=10).status_code == 200
        [fresh] = pool.wait_ready(1, exclude=[grown])
        assert httpx.get(pool.url).text.startswith(f"{fresh} ")
    output = pool.server.output  # complete: the process has exited
    assert f"worker {grown} uses" in output and "(max 100 MiB); replacing it" in output
    assert f"worker {grown} stopped (max-rss;" in output


def test_dev_reload_restarts_workers_when_a_file_changes(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    app_dir = tmp_path / "app"
    write_devapp(app_dir, "one")
    control = str(tmp_path / "control.sock")
    args = ["serve", "devapp:app", "--app-dir", str(app_dir), "-b", "127.0.0.1:0", "--reload"]
    from tests.support.processes import ServerProcess

    with ServerProcess([*args, "--control-socket", control, "--lifespan", "off"]) as server:
        url = server.url()
        assert httpx.get(url).text == "one"
        server.wait_for_line("watching .* for changes")
        write_devapp(app_dir, "two")
        server.wait_for_line("devapp.py changed; reloading")
        server.wait_for_line("reload complete")
        assert httpx.get(url).text == "two"
