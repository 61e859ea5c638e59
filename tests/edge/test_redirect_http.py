"""``redirect_http``: plain-HTTP listeners sending every request to the site's https URL."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServerProcess, run_cli


@pytest.mark.parametrize("workers", ["0", "1"])
def test_plain_http_listener_redirects_to_the_https_site(tmp_path: Path, workers: str) -> None:
    (tmp_path / "index.html").write_text("<p>secure</p>\n")
    args = ["edge", "--self-signed", "-b", "127.0.0.1:0", "--redirect-http", "127.0.0.1:0"]
    args += ["--static", f"/={tmp_path}", "-w", workers, "--control-socket", "none"]
    with ServerProcess(args) as edge:
        https = edge.wait_for_line(r"listening on (https://\S+)", 30).group(1)
        plain = edge.wait_for_line(r"listening on (http://\S+) \(redirects to https\)").group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", plain)
        port = https.rsplit(":", 1)[1]
        with httpx.Client(verify=False) as client:
            moved = client.get(plain + "/a/b?x=1", headers={"Host": "shop.example"})
            posted = client.post(plain + "/form", headers={"Host": "shop.example"})
            site = client.get(https + "/")
        assert moved.status_code == 301
        assert moved.headers["location"] == f"https://shop.example:{port}/a/b?x=1"
        assert posted.status_code == 308  # keeps the method and body
        assert site.status_code == 200 and site.text == "<p>secure</p>\n"


def test_redirect_without_tls_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        ["edge", "-w", "0", "--static", f"/={tmp_path}", "--redirect-http", "127.0.0.1:0"]
    )
    assert result.returncode == 2
    assert result.stderr == (
        "frontdesk: error: redirect_http needs TLS on --bind: give --certfile and --keyfile "
        "(or --self-signed)\n"
    )
