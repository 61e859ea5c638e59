"""A Flask JSON endpoint: routing, a converter and jsonify, the way small Flask APIs look."""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)
app.json.compact = True  # type: ignore[attr-defined]
app.json.sort_keys = False  # type: ignore[attr-defined]


@app.get("/items/<int:item_id>")
def read_item(item_id: int) -> Response:
    return jsonify(id=item_id, name="widget", tags=["a", "b"])
