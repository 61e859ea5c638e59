"""Killing one of two real backends under load: no idempotent request fails."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from frontdesk.edge.proxy import ProxyOptions, Upstream, UpstreamGroup
from tests.edge.proxy.backends import gunicorn, proxy, wait_until


def test_killing_one_backend_under_load_fails_no_idempotent_request() -> None:
    first, first_url = gunicorn("k1")
    second, second_url = gunicorn("k2")
    try:
        group = UpstreamGroup(
            [Upstream(first_url, fail_timeout=30), Upstream(second_url, fail_timeout=30)]
        )
        options = ProxyOptions(connect_timeout=2, read_timeout=10)
        results: Counter[tuple[int, str]] = Counter()
        lock = threading.Lock()
        done = threading.Event()
        total = 400

        def client_loop(count: int) -> None:
            with httpx.Client(timeout=15) as client:
                for n in range(count):
                    path = "/slow?s=0.01" if n % 3 == 0 else "/whoami"
                    r = client.get(server.url + path)
                    name = r.json().get("name", "?") if r.status_code == 200 else r.text
                    with lock:
                        results[(r.status_code, name)] += 1
                        if sum(results.values()) >= total // 4:
                            done.set()

        with proxy(group, options) as (server, route):
            with ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(client_loop, total // 4) for _ in range(4)]
                assert done.wait(60)
                first.kill()  # SIGKILL, master and workers, mid-load
                for future in futures:
                    future.result(timeout=120)
            assert route.stats.retries >= 1  # requests that met the dead server went on
        assert sum(results.values()) == total
        assert {status for status, _ in results} == {200}, results
        assert results[(200, "k1")] > 0 and results[(200, "k2")] > 0
        wait_until(lambda: not group.servers[0].available(), what="k1 to be out")
    finally:
        first.kill()
        second.stop()
