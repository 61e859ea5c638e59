"""wsgi.file_wrapper: regular files by sendfile (both loops), anything else by iteration."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest

from frontdesk.http import Exchange
from frontdesk.interfaces.wsgi import FileWrapper

from .helpers import fetch, get, wsgi_server

CONTENT = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


def file_app(path: Path, *, offset: int = 0, length: int | None = None) -> Any:
    opened: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        file = path.open("rb")
        file.seek(offset)
        opened.append(file)
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](file, 32768)

    app.opened = opened  # type: ignore[attr-defined]
    return app


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts of the bytes each ``Exchange.sendfile`` call was asked to send."""
    calls: list[int] = []
    original = Exchange.sendfile

    async def counting(self: Exchange, file: Any, offset: int, count: int) -> None:
        calls.append(count)
        await original(self, file, offset, count)

    monkeypatch.setattr(Exchange, "sendfile", counting)
    return calls


def test_file_sent_whole_with_its_length(
    threads: int, loop_factory: Callable[[], Any], data_file: Path, sendfile_calls: list[int]
) -> None:
    app = file_app(data_file)
    with wsgi_server(app, threads=threads, loop_factory=loop_factory) as srv:
        reply = get(srv.port)
        again = get(srv.port, version="1.0")
    assert sendfile_calls == [len(CONTENT)] * 2
    assert reply.headers["content-length"] == str(len(CONTENT))
    assert reply.body == CONTENT
    assert again.body == CONTENT
    assert all(f.closed for f in app.opened)  # close() of the wrapper closed the file


def test_file_from_its_position_and_no_more_than_declared(threads: int, data_file: Path) -> None:
    with wsgi_server(file_app(data_file, offset=1000), threads=threads) as srv:
        tail = get(srv.port)
    with wsgi_server(file_app(data_file, offset=10, length=5000), threads=threads) as srv:
        part = get(srv.port)
    assert tail.body == CONTENT[1000:]
    assert tail.headers["content-length"] == str(len(CONTENT) - 1000)
    assert part.body == CONTENT[10:5010] and part.complete


def test_file_longer_declared_than_it_is_closes(threads: int, data_file: Path) -> None:
    with wsgi_server(file_app(data_file, length=len(CONTENT) + 10), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.body == CONTENT and not reply.complete


def test_head_of_a_file(threads: int, data_file: Path) -> None:
    with wsgi_server(file_app(data_file), threads=threads) as srv:
        reply = fetch(srv.port, b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert reply.headers["content-length"] == str(len(CONTENT))
    assert reply.raw_body == b""


def test_file_like_without_a_descriptor_is_iterated(threads: int) -> None:
    stream = io.BytesIO(CONTENT)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](stream, 65536)

    with wsgi_server(app, threads=threads) as srv:
        reply = get(srv.port)
    assert reply.chunked and reply.body == CONTENT
    assert stream.closed


def test_wrapper_iterated_through_middleware(
    threads: int, data_file: Path, sendfile_calls: list[int]
) -> None:
    app = file_app(data_file)
    with wsgi_server(validator(app), threads=threads) as srv:
        reply = get(srv.port)
    assert reply.body == CONTENT
    assert sendfile_calls == []  # the middleware's iterable is not the wrapper
    assert all(f.closed for f in app.opened)


def test_wrapper_blocks() -> None:
    wrapper = FileWrapper(io.BytesIO(b"abcdefg"), 3)
    assert list(wrapper) == [b"abc", b"def", b"g"]
    wrapper.close()
    assert wrapper.filelike.closed
