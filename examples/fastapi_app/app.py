"""A FastAPI app: a JSON API with pydantic models, a WebSocket chat and server-sent events.

Run the whole stack (edge in front, app workers behind) from the repository root::

    frontdesk run examples.fastapi_app.app:app

- ``GET/POST /api/items``, ``GET /api/items/{id}``: a JSON API validated by pydantic;
- ``/ws/chat?name=NAME``: a WebSocket chat room; every message goes to every client
  connected to the same worker (a room shared across workers needs a broker, e.g. Redis);
- ``GET /events?count=N&interval=SECONDS``: server-sent events, one every interval, sent as
  they are produced: the response says ``X-Accel-Buffering: no`` so that the edge streams it
  instead of buffering it (as nginx does);
- ``GET /``: a page that uses all three.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

app = FastAPI(title="frontdesk FastAPI example")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    tags: list[str] = []


class Item(ItemIn):
    id: int


# Per worker process: with several workers each has its own items (a real app uses a DB).
_items: dict[int, Item] = {}
_ids = itertools.count(1)


@app.get("/api/items")
async def list_items() -> list[Item]:
    return list(_items.values())


@app.post("/api/items", status_code=201)
async def create_item(item: ItemIn) -> Item:
    created = Item(id=next(_ids), **item.model_dump())
    _items[created.id] = created
    return created


@app.get("/api/items/{item_id}")
async def get_item(item_id: int) -> Item:
    if item_id not in _items:
        raise HTTPException(status_code=404, detail="no such item")
    return _items[item_id]


class ChatRoom:
    """The WebSocket clients connected to this worker, and sending to all of them."""

    def __init__(self) -> None:
        self.clients: set[WebSocket] = set()

    async def broadcast(self, message: dict[str, str]) -> None:
        # A client that went away mid-send is dropped; its own handler says goodbye.
        for client in list(self.clients):
            try:
                await client.send_json(message)
            except Exception:  # whatever the server raises for a closed connection
                self.clients.discard(client)


room = ChatRoom()


@app.websocket("/ws/chat")
async def chat(websocket: WebSocket, name: str = Query("anonymous", max_length=40)) -> None:
    await websocket.accept()
    room.clients.add(websocket)
    await room.broadcast({"type": "join", "name": name})
    try:
        while True:
            text = await websocket.receive_text()
            await room.broadcast({"type": "message", "name": name, "text": text})
    except WebSocketDisconnect:
        pass
    finally:
        room.clients.discard(websocket)
        await room.broadcast({"type": "leave", "name": name})


async def _ticks(count: int, interval: float) -> AsyncIterator[str]:
    for number in range(count):
        if number:
            await asyncio.sleep(interval)
        # When each event was produced, so that a client can tell it was not held back.
        data = json.dumps({"n": number, "produced": time.time()})
        yield f"id: {number}\nevent: tick\ndata: {data}\n\n"
    yield "event: done\ndata: {}\n\n"


@app.get("/events")
async def events(
    count: int = Query(5, ge=1, le=1000), interval: float = Query(1.0, ge=0, le=60)
) -> StreamingResponse:
    return StreamingResponse(
        _ticks(count, interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>frontdesk + FastAPI</title></head>
<body>
<h1>Chat</h1>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off"><button>Send</button></form>
<h2>Clock (server-sent events)</h2>
<p id="clock">waiting…</p>
<script>
const log = document.getElementById("log");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const ws = new WebSocket(`${scheme}://${location.host}/ws/chat?name=browser`);
ws.onmessage = (event) => {
  const m = JSON.parse(event.data);
  const li = document.createElement("li");
  li.textContent = m.type === "message" ? `${m.name}: ${m.text}` : `${m.name} ${m.type}s`;
  log.append(li);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  ws.send(text.value);
  text.value = "";
};
const clock = new EventSource("/events?count=60&interval=1");
clock.addEventListener("tick", (event) => {
  document.getElementById("clock").textContent = `tick ${JSON.parse(event.data).n}`;
});
clock.addEventListener("done", () => clock.close());
</script>
</body>
</html>
"""


@app.get("/", response_class=HTMLResponse)
async def index() -> str:
    return PAGE
