"""``frontdesk trace``: one request through a real stack, the layers it crossed, their times."""

from __future__ import annotations

import re
from pathlib import Path

from frontdesk.stack.trace import parse_params
from tests.support.processes import REPO, ServerProcess, run_cli

APPS = str(REPO / "tests" / "appserver" / "apps")


def test_parse_params_reads_quoted_values_with_separators() -> None:
    name, params = parse_params('edge; pid=12; route="/a;b"; upstream="unix:/x \\"y\\""; n')
    assert name == "edge"
    assert params == {"pid": "12", "route": "/a;b", "upstream": 'unix:/x "y"', "n": ""}


def test_trace_shows_each_layer_its_process_and_its_time(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a\n")
    args = ["run", "pool_apps:app", "--app-dir", APPS, "-w", "1", "-b", "127.0.0.1:0"]
    with ServerProcess([*args, "--control-socket", "none"], cwd=tmp_path) as stack:
        url = stack.url(60)
        app_pid = int(stack.wait_for_line(r"worker (\d+) ready \(app:pool_apps").group(1))
        edge_pid = int(stack.wait_for_line(r"worker (\d+) ready \(edge").group(1))

        result = run_cli(["trace", url + "/page?x=1"])
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith(f"GET {url}/page?x=1\n  -> 200 OK in ")
        assert re.search(r"request id [0-9a-f]{32}", out)
        lines = out.splitlines()
        assert re.fullmatch(
            rf"  1\. edge   pid {edge_pid}: route / -> upstream unix:\S+/pool_apps\.sock"
            r"  \[edge \d+\.\d{3} ms\]",
            lines[2],
        ), out
        assert re.fullmatch(
            r"  2\. queue  waiting for an app worker  \[queue \d+\.\d{3} ms\]", lines[3]
        )
        assert re.fullmatch(
            rf"  3\. app    pid {app_pid} \(worker app:pool_apps#\d+, ASGI app pool_apps:app\)"
            r"  \[app \d+\.\d{3} ms\]",
            lines[4],
        ), out

        static = run_cli(["trace", url + "/static/a.txt"]).stdout.splitlines()
        assert re.fullmatch(
            rf"  1\. edge   pid {edge_pid}: route /static/ -> static file \S+/static/a\.txt"
            r"  \[edge \d+\.\d{3} ms\]",
            static[2],
        ), static


def test_trace_of_a_server_that_does_not_report_says_so() -> None:
    args = ["serve", "pool_apps:app", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    with ServerProcess(args) as server:
        # The app server alone: no edge stamped X-Request-Start, but it trusts loopback,
        # so it still names itself.
        out = run_cli(["trace", server.url(30) + "/"]).stdout
        assert "1. app    pid" in out


def test_trace_errors_are_one_line() -> None:
    result = run_cli(["trace", "ftp://example/"])
    assert result.returncode == 2
    assert result.stderr.startswith("frontdesk: error: trace 'ftp://example/': expected an http")
    result = run_cli(["trace", "http://127.0.0.1:1/"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "refused" in result.stderr
