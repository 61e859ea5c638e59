"""A real FastAPI app through ``frontdesk serve``, driven by httpx and the websockets client."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "e2e" / "apps")


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fastapi") / "background.txt"


@pytest.fixture(scope="module")
def base_url(marker: Path) -> Iterator[str]:
    # One process: the chat broadcasts to the clients of one worker.
    args = ["serve", "fastapi_app:app", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    with ServerProcess(args, env={"BACKGROUND_MARKER": str(marker)}) as server:
        yield server.url()


def test_json(base_url: str) -> None:
    r = httpx.get(base_url + "/json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"hello": "world", "numbers": [1, 2, 3]}


def test_json_body_and_validation_error(base_url: str) -> None:
    r = httpx.post(base_url + "/items", json={"name": "pen", "price": 10})
    assert r.json() == {"name": "pen", "price_with_tax": 12.0}
    bad = httpx.post(base_url + "/items", json={"name": "pen"})
    assert bad.status_code == 422


def test_urlencoded_form(base_url: str) -> None:
    r = httpx.post(base_url + "/form", data={"name": "Ada", "age": "36"})
    assert r.json() == {"name": "Ada", "age": 36}


def test_multipart_upload_of_a_large_file(base_url: str) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    r = httpx.post(
        base_url + "/upload",
        files={"file": ("big.bin", payload, "application/octet-stream")},
        data={"note": "eight megabytes"},
        timeout=60,
    )
    assert r.status_code == 200
    assert r.json() == {
        "filename": "big.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "note": "eight megabytes",
    }


def test_streaming_response(base_url: str) -> None:
    with httpx.stream("GET", base_url + "/stream") as r:
        assert r.headers.get("transfer-encoding") == "chunked"
        lines = [line for line in r.iter_lines() if line]
    assert lines == [f"line {i}" for i in range(10)]


def test_file_response_via_pathsend(base_url: str) -> None:
    r = httpx.get(base_url + "/file")
    assert r.status_code == 200
    assert r.content == bytes(range(256)) * 4096
    assert r.headers["content-length"] == str(256 * 4096)
    head = httpx.head(base_url + "/file")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(256 * 4096)
    assert head.content == b""


def test_background_task_runs_after_response(base_url: str, marker: Path) -> None:
    r = httpx.post(base_url + "/background")
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text() == "background ran"):
        assert time.monotonic() < deadline, "background task never ran"
        time.sleep(0.02)


def test_keep_alive_connection_reused(base_url: str) -> None:
    with httpx.Client() as client:
        for _ in range(20):
            assert client.get(base_url + "/json").status_code == 200


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def test_websocket_echo(base_url: str) -> None:
    with connect(ws_url(base_url, "/ws/echo"), open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"


def test_websocket_chat_with_several_clients(base_url: str) -> None:
    url = ws_url(base_url, "/ws/chat")
    with ExitStack() as stack:
        clients = []
        for index in range(3):
            client = stack.enter_context(connect(url, open_timeout=10))
            client.send(f"join {index}")
            # Our own join coming back proves we are in the room (earlier joins may precede it).
            while client.recv(timeout=10) != f"join {index}":
                pass
            clients.append(client)
        for index, client in enumerate(clients):
            client.send(f"message from {index}")
        expected = {f"message from {i}" for i in range(len(clients))}
        for client in clients:
            heard: set[str] = set()
            for _ in range(10):  # at most 2 stray joins plus the 3 messages
                text = client.recv(timeout=10)
                if text.startswith("message from"):
                    heard.add(text)
                if heard == expected:
                    break
            assert heard == expected
