"""A real Flask app through ``frontdesk serve``, inline and in threads, with and without
``wsgiref.validate.validator`` checking every request against PEP 3333."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "e2e" / "apps")
FILE_SIZE = 3 * 1024 * 1024 + 17

RUNS = [("1", "app"), ("4", "app"), ("1", "validated_app"), ("4", "validated_app")]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flask") / "data.bin"
    path.write_bytes(os.urandom(FILE_SIZE))
    return path


@pytest.fixture(scope="module", params=RUNS, ids=[f"threads{t}-{a}" for t, a in RUNS])
def server(request: pytest.FixtureRequest, data_file: Path) -> Iterator[ServerProcess]:
    threads, attribute = request.param
    args = ["serve", f"flask_app:{attribute}", "--app-dir", APPS, "-b", "127.0.0.1:0"]
    with ServerProcess(
        [*args, "--threads", threads], env={"FLASK_E2E_FILE": str(data_file)}
    ) as process:
        process.url()
        yield process
    # Flask logs /error's traceback: the only one expected. The validator reports what it
    # cannot raise (an iterable never closed) on stderr.
    assert process.output.count("Traceback") == process.output.count("Exception on /error")
    assert "ERROR frontdesk" not in process.output
    assert "WSGIWarning" not in process.output
    assert "garbage collected" not in process.output


@pytest.fixture
def base_url(server: ServerProcess) -> str:
    return server.url()


def test_text(base_url: str) -> None:
    r = httpx.get(base_url + "/")
    assert r.status_code == 200
    assert r.text == "hello from flask"
    assert r.headers["content-length"] == "16"


def test_json_both_ways(base_url: str) -> None:
    r = httpx.get(base_url + "/json")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"hello": "world", "numbers": [1, 2, 3]}
    r = httpx.post(base_url + "/json", json={"a": ["b", 1, None]})
    assert r.json() == {"received": {"a": ["b", 1, None]}}


def test_urlencoded_form(base_url: str) -> None:
    r = httpx.post(base_url + "/form", data={"name": "Ada", "age": "36"})
    assert r.json() == {"name": "Ada", "age": 36}


def test_multipart_upload_of_20_mb(base_url: str) -> None:
    payload = os.urandom(20 * 1024 * 1024)
    r = httpx.post(
        base_url + "/upload",
        files={"file": ("big.bin", payload, "application/octet-stream")},
        data={"note": "twenty megabytes"},
        timeout=60,
    )
    assert r.status_code == 200
    assert r.json() == {
        "filename": "big.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "note": "twenty megabytes",
    }


def test_streaming_response(base_url: str) -> None:
    with httpx.stream("GET", base_url + "/stream") as r:
        assert r.headers.get("transfer-encoding") == "chunked"
        lines = list(r.iter_lines())
    assert [line for line in lines if line] == [f"line {i}" for i in range(10)]


def test_send_file(base_url: str, data_file: Path) -> None:
    r = httpx.get(base_url + "/file")
    assert r.status_code == 200
    assert r.headers["content-length"] == str(FILE_SIZE)
    assert r.content == data_file.read_bytes()
    ranged = httpx.get(base_url + "/file", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == data_file.read_bytes()[100:200]
    etag = r.headers["etag"]
    assert httpx.get(base_url + "/file", headers={"If-None-Match": etag}).status_code == 304


def test_environ_seen_by_flask(base_url: str, server: ServerProcess) -> None:
    r = httpx.get(base_url + "/environ?x=1")
    threads = server.proc.args[-1]
    assert r.json() == {
        "multithread": threads == "4",
        "url_scheme": "http",
        "remote_addr": "127.0.0.1",
        "script_name": "",
        "path": "/environ",
        "full_path": "/environ?x=1",
    }


def test_errors(base_url: str) -> None:
    assert httpx.get(base_url + "/nope").status_code == 404
    r = httpx.get(base_url + "/error")
    assert r.status_code == 500
    assert "Internal Server Error" in r.text


def test_keep_alive_connection_reused(base_url: str) -> None:
    with httpx.Client() as client:
        for _ in range(20):
            assert client.get(base_url + "/json").status_code == 200
