"""One request, one request id, in the access lines of both layers of ``frontdesk run``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "appserver" / "apps")
_LINE = re.compile(
    r"\[(\d+)\] INFO frontdesk\.access: 127\.0\.0\.1 - \"GET /page\?n=1 HTTP/1\.1\" 200 \d+ "
    r"\d+\.\d+s rid=([0-9a-f]{32})"
)


def test_edge_and_app_log_the_same_request_id(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a\n")
    args = ["run", "pool_apps:app", "--app-dir", APPS, "-w", "1", "-b", "127.0.0.1:0"]
    with ServerProcess([*args, "--access-log", "--control-socket", "none"], cwd=tmp_path) as stack:
        url = stack.url(60)
        response = httpx.get(url + "/page?n=1")
        rid = response.headers["x-request-id"]
        edge_pid = stack.wait_for_line(r"worker (\d+) ready \(edge").group(1)
        app_pid = stack.wait_for_line(r"worker (\d+) ready \(app:").group(1)
        stack.wait_for_line(rf"\[{edge_pid}\] INFO frontdesk\.access: .*rid={rid}")
        stack.wait_for_line(rf"\[{app_pid}\] INFO frontdesk\.access: .*rid={rid}")
        lines = [m for line in stack.lines if (m := _LINE.search(line))]
        assert sorted(m.group(1) for m in lines) == sorted([edge_pid, app_pid])
        assert {m.group(2) for m in lines} == {rid}
        # A static file is the edge's alone: one line, no id (no app server saw it).
        httpx.get(url + "/static/a.txt")
        stack.wait_for_line(
            rf"\[{edge_pid}\] INFO frontdesk\.access: 127\.0\.0\.1 - \"GET /static/a\.txt "
            r"HTTP/1\.1\" 200 2 \d+\.\d+s rid=-"
        )
