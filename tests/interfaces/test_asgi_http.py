"""The ASGI http scope over a real socket: scope fields, body in, body out, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from frontdesk.interfaces.asgi import ASGIHandler
from frontdesk.interfaces.detect import as_asgi3, detect
from tests.support.raw import exchange
from tests.support.threaded import serving

try:
    import uvloop

    LOOPS = [asyncio.new_event_loop, uvloop.new_event_loop]
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    LOOPS = [asyncio.new_event_loop]


@pytest.fixture(params=LOOPS, ids=lambda f: f.__module__.split(".")[0])
def loop_factory(request: pytest.FixtureRequest) -> Any:
    return request.param


async def scope_app(scope: Any, receive: Any, send: Any) -> None:
    chunks = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        chunks.append(message["body"])
        if not message.get("more_body"):
            break
    info = {
        k: v
        for k, v in scope.items()
        if k not in ("headers", "raw_path", "query_string", "state", "extensions")
    }
    info["headers"] = [[n.decode(), v.decode()] for n, v in scope["headers"]]
    info["raw_path"] = scope["raw_path"].decode()
    info["query_string"] = scope["query_string"].decode()
    info["body_len"] = len(b"".join(chunks))
    info["messages"] = len(chunks)
    body = json.dumps(info).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def test_scope_fields(loop_factory: Any) -> None:
    with serving(ASGIHandler(scope_app), loop_factory=loop_factory) as srv:
        r = httpx.get(srv.url + "/caf%C3%A9/a%2Fb?x=1&y=%20", headers={"X-Dup": "1"})
        r.raise_for_status()
        scope = r.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == "/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", srv.port]
    assert ["x-dup", "1"] in scope["headers"]
    assert all(name == name.lower() for name, _ in scope["headers"])


def test_duplicate_headers_kept_in_order(loop_factory: Any) -> None:
    with serving(ASGIHandler(scope_app), loop_factory=loop_factory) as srv:
        raw = exchange(
            srv.port,
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nConnection: close\r\n\r\n",
        )
    body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert [h for h in body["headers"] if h[0].startswith("x-")] == [
        ["x-a", "1"],
        ["x-b", "2"],
        ["x-a", "3"],
    ]


def test_large_body_streams_in_several_messages(loop_factory: Any) -> None:
    payload = b"x" * (3 * 1024 * 1024)

    def chunks() -> Any:
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    with serving(ASGIHandler(scope_app), loop_factory=loop_factory) as srv:
        r = httpx.post(srv.url + "/up", content=chunks())
    assert r.status_code == 200
    assert r.json()["body_len"] == len(payload)
    assert r.json()["messages"] > 1


async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    for i in range(5):
        await send({"type": "http.response.body", "body": b"part%d\n" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_streaming_response_is_chunked(loop_factory: Any) -> None:
    with serving(ASGIHandler(streaming_app), loop_factory=loop_factory) as srv:
        raw = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        assert body == b"".join(b"6\r\npart%d\n\r\n" % i for i in range(5)) + b"0\r\n\r\n"
        # HTTP/1.0: no chunked coding; the end of the body is the end of the connection.
        raw10 = exchange(srv.port, b"GET / HTTP/1.0\r\n\r\n")
        head10, _, body10 = raw10.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head10.lower()
        assert b"connection: close" in head10.lower()
        assert body10 == b"".join(b"part%d\n" % i for i in range(5))


def test_head_response_has_no_body(loop_factory: Any) -> None:
    with serving(ASGIHandler(scope_app), loop_factory=loop_factory) as srv:
        raw = exchange(srv.port, b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: " in head
    assert body == b""


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] == "/late":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom")


def test_exception_before_response_is_500_and_after_closes(
    loop_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(ASGIHandler(failing_app), loop_factory=loop_factory) as srv:
        r = httpx.get(srv.url + "/early")
        assert r.status_code == 500
        raw = exchange(srv.port, b"GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b"partial")  # cut short: the client sees fewer bytes than declared
    errors = [
        r
        for r in caplog.records
        if r.levelname == "ERROR" and "Exception in ASGI" in r.getMessage()
    ]
    assert len(errors) == 2
    assert all(r.exc_info is not None for r in errors)


async def wrong_order_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.body", "body": b"no start"})


def test_message_order_enforced(loop_factory: Any) -> None:
    with serving(ASGIHandler(wrong_order_app), loop_factory=loop_factory) as srv:
        r = httpx.get(srv.url + "/")
    assert r.status_code == 500


async def too_long_app(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]}
    )
    await send({"type": "http.response.body", "body": b"abcdef"})


def test_body_longer_than_content_length_is_not_sent(loop_factory: Any) -> None:
    with serving(ASGIHandler(too_long_app), loop_factory=loop_factory) as srv:
        raw = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"abcdef" not in raw


def test_asgi2_app_detected_and_wrapped() -> None:
    class App2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        return []

    assert detect(App2) == "asgi2"
    assert detect(scope_app) == "asgi3"
    assert detect(wsgi_app) == "wsgi"
    with serving(ASGIHandler(as_asgi3(App2, "asgi2"))) as srv:
        assert httpx.get(srv.url).status_code == 204


async def declared_length_app(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"Content-Length", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def test_declared_content_length_sent_exactly_once(loop_factory: Any) -> None:
    with serving(ASGIHandler(declared_length_app), loop_factory=loop_factory) as srv:
        raw = exchange(
            srv.port,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
    assert raw.lower().count(b"content-length") == 2  # once per response
    assert raw.count(b"hello") == 2


def test_an_app_changing_its_scope_headers_changes_no_other_request(loop_factory: Any) -> None:
    # Middleware may add to scope["headers"] (Starlette's MutableHeaders(scope=scope) does
    # it in place). The same request sent again on a keep-alive connection must still reach
    # the app with the client's fields only.
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))
        scope["headers"].append((b"x-added-by-middleware", b"1"))
        scope["headers"][0] = (b"host", b"rewritten")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with (
        serving(ASGIHandler(app), loop_factory=loop_factory) as srv,
        httpx.Client(base_url=srv.url) as client,
    ):
        for _ in range(4):
            assert client.get("/same", headers={"x-case": "mutating"}).text == "ok"
    assert len(seen) == 4
    assert all(headers == seen[0] for headers in seen)
    assert (b"x-added-by-middleware", b"1") not in seen[0]
    assert seen[0][0][0] == b"host" and seen[0][0][1] != b"rewritten"
