"""examples/fastapi_app through the whole stack: JSON API, WebSocket chat, server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.e2e.stack import Stack, stack
from tests.support.processes import REPO

#: Bound on every wait for a WebSocket message.
RECV_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Started somewhere without ./static: everything goes to the app.
    cwd: Path = tmp_path_factory.mktemp("fastapi-example")
    app_dir = ["--app-dir", str(REPO)]
    with stack("examples.fastapi_app.app:app", cwd=cwd, extra_args=app_dir) as running:
        yield running
    assert "Traceback" not in running.output, running.output


def test_page(site: Stack) -> None:
    r = httpx.get(site.url + "/", timeout=30)
    assert r.status_code == 200
    assert "new EventSource(" in r.text


def test_json_round_trip(site: Stack) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        created = client.post("/api/items", json={"name": "pen", "price": 1.5, "tags": ["a"]})
        assert created.status_code == 201
        item = created.json()
        assert item == {"id": item["id"], "name": "pen", "price": 1.5, "tags": ["a"]}
        assert client.get(f"/api/items/{item['id']}").json() == item
        assert item in client.get("/api/items").json()
        invalid = client.post("/api/items", json={"name": "", "price": -1})
        assert invalid.status_code == 422
        assert {error["loc"][-1] for error in invalid.json()["detail"]} == {"name", "price"}
        assert client.get("/api/items/999999").status_code == 404


def _receive(connection: ClientConnection) -> dict[str, str]:
    message = json.loads(connection.recv(timeout=RECV_TIMEOUT))
    assert isinstance(message, dict)
    return message


def test_two_clients_chat(site: Stack) -> None:
    chat = site.url.replace("http://", "ws://", 1) + "/ws/chat"
    with connect(chat + "?name=ann", open_timeout=RECV_TIMEOUT) as ann:
        assert _receive(ann) == {"type": "join", "name": "ann"}
        with connect(chat + "?name=bob", open_timeout=RECV_TIMEOUT) as bob:
            # bob's join is broadcast to both: once ann has seen it, bob is in the room.
            assert _receive(bob) == {"type": "join", "name": "bob"}
            assert _receive(ann) == {"type": "join", "name": "bob"}
            ann.send("hello bob")
            said = {"type": "message", "name": "ann", "text": "hello bob"}
            assert _receive(bob) == said
            assert _receive(ann) == said
            bob.send("hi ann ✓")
            said = {"type": "message", "name": "bob", "text": "hi ann ✓"}
            assert _receive(ann) == said
            assert _receive(bob) == said
        assert _receive(ann) == {"type": "leave", "name": "bob"}


def test_events_stream_through_the_edge_unbuffered(site: Stack) -> None:
    """The first event arrives before the last one is even produced."""
    count, interval = 4, 0.5
    events: list[tuple[float, dict[str, float]]] = []
    url = f"{site.url}/events?count={count}&interval={interval}"
    with httpx.stream("GET", url, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kinds = []
        for line in r.iter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
            elif line.startswith("data: ") and kinds[-1] == "tick":
                events.append((time.time(), json.loads(line.removeprefix("data: "))))
    assert kinds == ["tick"] * count + ["done"]
    assert [data["n"] for _, data in events] == list(range(count))
    first_received = events[0][0]
    last_produced = events[-1][1]["produced"]
    assert first_received < last_produced, "the edge held the stream back"
