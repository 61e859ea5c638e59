"""ASGI extensions and receive/send semantics: pathsend, trailers, early hints, disconnect."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx

from frontdesk.interfaces.asgi import ASGIHandler
from tests.support.raw import exchange, read_until_closed
from tests.support.threaded import serving


def test_extensions_advertised() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope["extensions"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    with serving(ASGIHandler(app)) as srv:
        httpx.get(srv.url)
    assert {"http.response.pathsend", "http.response.trailers", "http.response.early_hint"} <= set(
        seen
    )


def test_pathsend_sends_the_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    target = tmp_path / "data.bin"
    target.write_bytes(data)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(target)})

    with serving(ASGIHandler(app)) as srv, httpx.Client() as client:
        for _ in range(3):  # and the connection stays usable afterwards
            r = client.get(srv.url)
            assert r.content == data
            assert r.headers["content-length"] == str(len(data))


async def trailers_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"payload"})
    await send(
        {
            "type": "http.response.trailers",
            "headers": [(b"x-checksum", b"abc")],
            "more_trailers": True,
        }
    )
    await send({"type": "http.response.trailers", "headers": [(b"x-more", b"1")]})


def test_trailers_sent_only_when_client_accepts_them() -> None:
    with serving(ASGIHandler(trailers_app)) as srv:
        with_te = exchange(
            srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n"
        )
        without = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head, _, body = with_te.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"7\r\npayload\r\n0\r\nx-checksum: abc\r\nx-more: 1\r\n\r\n"
    head, _, body = without.partition(b"\r\n\r\n")
    assert b"x-checksum" not in without
    assert body.endswith(b"payload\r\n0\r\n\r\n") or body == b"payload"


def test_early_hints_before_the_response() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]}
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serving(ASGIHandler(app)) as srv:
        raw = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        raw10 = exchange(srv.port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 200 OK\r\n"
    )
    assert raw10.startswith(b"HTTP/1.1 200 OK\r\n")  # HTTP/1.0 clients get no interim responses


def test_receive_after_body_waits_for_disconnect() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        first = await receive()
        events.append(f"{first['type']} more={first['more_body']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        # The client closes while we stream; receive() must then report the disconnect.
        message = await asyncio.wait_for(receive(), 10)
        events.append(message["type"])

    with serving(ASGIHandler(app)) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        received = b""
        for _ in range(50):
            received += sock.recv(4096)
            if b"part" in received:
                break
        assert b"part" in received
        sock.close()
        for _ in range(200):
            if len(events) == 2:
                break
            srv.call(lambda: asyncio.sleep(0.025))
    assert events == ["http.request more=False", "http.disconnect"]


def test_limit_concurrency_answers_503() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/hold":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    with serving(ASGIHandler(app, limit_concurrency=1)) as srv:
        held = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        held.sendall(b"GET /hold HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        for _ in range(400):  # wait until the first request occupies the only slot
            handler = srv.server.handler if srv.server else None
            if handler is not None and len(handler.tasks) == 1:  # type: ignore[attr-defined]
                break
            srv.call(lambda: asyncio.sleep(0.01))
        r = httpx.get(srv.url + "/other")
        assert r.status_code == 503
        srv.loop.call_soon_threadsafe(release.set)
        assert read_until_closed(held).endswith(b"done")
        held.close()
