"""A one-file ASGI app written into a test's directory, for the ``--reload`` tests."""

from __future__ import annotations

from pathlib import Path

_TEMPLATE = (
    "async def app(scope, receive, send):\n"
    "    assert scope['type'] == 'http'\n"
    "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
    "    await send({'type': 'http.response.body', 'body': b'%s'})\n"
)


def write_devapp(app_dir: Path, answer: str) -> Path:
    """``app_dir/devapp.py`` answering ``answer`` to every request (``devapp:app``)."""
    app_dir.mkdir(exist_ok=True)
    module = app_dir / "devapp.py"
    module.write_text(_TEMPLATE % answer)
    return module
