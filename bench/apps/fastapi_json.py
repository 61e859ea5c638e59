"""A FastAPI JSON endpoint: routing, a path parameter, validation and JSON encoding."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, object]:
    return {"id": item_id, "name": "widget", "tags": ["a", "b"]}
