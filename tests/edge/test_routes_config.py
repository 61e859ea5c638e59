"""The edge configured from the file: hosts, several upstream groups, per-route options."""

from __future__ import annotations

import collections
from pathlib import Path

import httpx
import pytest

from frontdesk.errors import ConfigError
from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "appserver" / "apps")


def _backend() -> ServerProcess:
    args = ["serve", "pool_apps:app", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    return ServerProcess(args)


def test_hosts_groups_weights_static_and_status_from_one_file(tmp_path: Path) -> None:
    (tmp_path / "wild").mkdir()
    (tmp_path / "wild" / "w.txt").write_text("wild\n")
    with _backend() as one, _backend() as two, _backend() as three:
        urls = [one.url(30), two.url(30), three.url(30)]
        pid = {u: httpx.get(u + "/").text.split()[0] for u in urls}
        config = tmp_path / "edge.toml"
        config.write_text(
            f"""\
[edge]
status_path = "/healthz"

[[upstreams]]
name = "a"
servers = ["{urls[0]}"]
hosts = ["a.example"]
mount = "/"

[[upstreams]]
name = "b"
balance = "weighted"
servers = [{{ address = "{urls[1]}", weight = 1 }}, {{ address = "{urls[2]}", weight = 3 }}]
hosts = ["b.example"]
mount = "/"

[[edge.routes]]
prefix = "/"
static = "{tmp_path / "wild"}"
hosts = ["*.wild.example"]

[[edge.routes]]
prefix = "/shared/"
upstream = "a"

[[edge.routes]]
prefix = "/readonly/"
upstream = "a"
methods = ["get", "OPTIONS"]
"""
        )
        args = ["edge", "-c", str(config), "-w", "0", "-b", "127.0.0.1:0"]
        with ServerProcess(args) as edge, httpx.Client(base_url=edge.url(30)) as client:

            def get(path: str, host: str) -> httpx.Response:
                return client.get(path, headers={"Host": host})

            assert get("/x", "a.example").text.split()[0] == pid[urls[0]]
            assert get("/x", "A.EXAMPLE:8080").text.split()[0] == pid[urls[0]]
            counts = collections.Counter(get("/x", "b.example").text.split()[0] for _ in range(40))
            assert counts == {pid[urls[1]]: 10, pid[urls[2]]: 30}
            assert get("/w.txt", "x.wild.example").text == "wild\n"
            assert get("/w.txt", "wild.example").status_code == 404  # not *.wild.example
            assert get("/x", "other.example").status_code == 404
            # A route without hosts answers every host, and the same group serves it.
            assert get("/shared/y", "other.example").text.split()[0] == pid[urls[0]]
            # Per-route methods: GET brings HEAD; others get 405 with Allow.
            assert get("/readonly/x", "any").status_code == 200
            assert client.head("/readonly/x").status_code == 200
            refused = client.post("/readonly/x", content=b"data")
            assert refused.status_code == 405
            assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
            assert client.post("/shared/x").status_code == 200
            status = get("/healthz", "anything")
            assert (status.status_code, status.text) == (200, "ok\n")
            assert client.post("/healthz").status_code == 405


def test_upstream_retry_and_health_options_reach_the_proxy(tmp_path: Path) -> None:
    from frontdesk.config import load_config
    from frontdesk.edge.run import edge_spec
    from frontdesk.edge.site import build_site

    config = tmp_path / "edge.toml"
    config.write_text(
        """\
[[upstreams]]
name = "api"
servers = ["127.0.0.1:9001", { address = "127.0.0.1:9002", max_conns = 3 }]
queue_timeout = 0.5
mount = "/"
max_tries = 2
retry_timeout = 3.5
retry_statuses = [502, "503"]
send_timeout = 7
health_path = "/up"
health_interval = 1.5
health_rise = 4
health_fall = 5
"""
    )
    site = build_site(edge_spec(load_config(config_path=str(config))))
    (route,) = site.routes
    options = route.options
    assert (options.max_tries, options.retry_timeout) == (2, 3.5)
    assert options.retry_statuses == frozenset({502, 503})
    assert options.send_timeout == 7.0
    assert [server.max_conns for server in route.group.servers] == [0, 3]
    assert route.group.queue is not None and route.group.queue.timeout == 0.5
    (checker,) = site.checkers
    check = checker.check
    assert (check.path, check.interval, check.rise, check.fall) == ("/up", 1.5, 4, 5)
    for files in site.statics:
        files.close()

    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace("[502, ", "[404, "))
    with pytest.raises(ConfigError, match=r"retry_statuses = .*a 5xx status"):
        load_config(config_path=str(bad))
