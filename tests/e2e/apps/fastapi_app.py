"""A FastAPI app exercising what real apps use: JSON, forms, uploads, streaming, files,
background tasks, WebSockets. Served by the e2e tests through ``frontdesk serve``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, FastAPI, File, Form, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel

STATIC_FILE = os.path.join(tempfile.gettempdir(), f"frontdesk-e2e-{os.getpid()}.bin")
DONE_MARKER = os.environ.get("BACKGROUND_MARKER", "")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
    with open(STATIC_FILE, "wb") as f:
        f.write(bytes(range(256)) * 4096)  # 1 MiB
    yield {"started": True}
    os.unlink(STATIC_FILE)


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float


@app.get("/json")
async def get_json() -> dict[str, object]:
    return {"hello": "world", "numbers": [1, 2, 3]}


@app.post("/items")
async def create_item(item: Item) -> dict[str, object]:
    return {"name": item.name, "price_with_tax": round(item.price * 1.2, 2)}


@app.post("/form")
async def form(name: str = Form(...), age: int = Form(...)) -> dict[str, object]:
    return {"name": name, "age": age}


@app.post("/upload")
async def upload(file: UploadFile = File(...), note: str = Form("")) -> dict[str, object]:
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(256 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return {"filename": file.filename, "size": size, "sha256": digest.hexdigest(), "note": note}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def numbers() -> AsyncIterator[bytes]:
        for i in range(10):
            yield f"line {i}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(numbers(), media_type="text/plain")


@app.api_route("/file", methods=["GET", "HEAD"])
async def file() -> FileResponse:
    return FileResponse(STATIC_FILE, media_type="application/octet-stream")


def _write_marker(text: str) -> None:
    if DONE_MARKER:
        with open(DONE_MARKER, "w") as f:
            f.write(text)


@app.post("/background")
async def background(tasks: BackgroundTasks) -> PlainTextResponse:
    tasks.add_task(_write_marker, "background ran")
    return PlainTextResponse("accepted", status_code=202)


@app.websocket("/ws/echo")
async def ws_echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


ROOM: set[WebSocket] = set()


@app.websocket("/ws/chat")
async def ws_chat(ws: WebSocket) -> None:
    await ws.accept()
    ROOM.add(ws)
    try:
        while True:
            text = await ws.receive_text()
            for peer in list(ROOM):
                await peer.send_text(text)
    except WebSocketDisconnect:
        pass
    finally:
        ROOM.discard(ws)
