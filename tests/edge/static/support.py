"""Helpers for the static file tests: a file tree with a secret beside its root, a server
on either loop, raw requests with parsed answers, a multipart/byteranges reader and a clock
the test moves by hand."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import brotli

from frontdesk.edge.static import StaticFiles
from frontdesk.loops import loop_factory
from tests.support.raw import read_until_closed
from tests.support.threaded import ThreadedServer, serving

SECRET = b"TOP-SECRET-7f3a9c: this file lies outside every root"
HELLO = b"hello, static world\n"
APP_JS = b"export const answer = 42;\n" * 200


class FakeClock:
    """A monotonic clock for ``FileCache``: it moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Tree:
    """``base/secret.txt`` next to ``base/www`` (the root); files under ``www/static``."""

    base: Path
    root: Path
    static: Path


def make_tree(base: Path) -> Tree:
    root = base / "www"
    static = root / "static"
    (static / "sub").mkdir(parents=True)
    (static / "empty").mkdir()
    (base / "secret.txt").write_bytes(SECRET)
    (base / "private").mkdir()
    (base / "private" / "secret.txt").write_bytes(SECRET)
    (root / "secret.txt").write_bytes(b"root-level file, outside the /static/ alias\n")
    (static / "hello.txt").write_bytes(HELLO)
    (static / "sub" / "index.html").write_bytes(b"<h1>sub</h1>\n")
    (static / "app.js").write_bytes(APP_JS)
    (static / "app.js.gz").write_bytes(gzip.compress(APP_JS, mtime=0))
    (static / "app.js.br").write_bytes(brotli.compress(APP_JS))
    (static / "a b.txt").write_bytes(b"space\n")
    (static / "\u20ac.txt").write_bytes(b"euro\n")
    (static / "...").mkdir()
    (static / "..." / "dots.txt").write_bytes(b"three dots are a name\n")
    (static / "link-in").symlink_to("hello.txt")
    (static / "link-out").symlink_to(base / "secret.txt")
    (static / "link-out-relative").symlink_to(os.path.join("..", "..", "secret.txt"))
    (static / "dir-out").symlink_to(base / "private")
    (static / "dir-up").symlink_to("..")  # to www: inside the root
    return Tree(base, root, static)


@contextmanager
def static_server(handler: StaticFiles, loop_kind: str = "asyncio") -> Iterator[ThreadedServer]:
    try:
        with serving(handler, loop_factory=loop_factory(loop_kind)) as server:
            yield server
    finally:
        handler.close()


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def parse_answer(data: bytes, *, head_only: bool = False) -> Answer:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    answer = Answer(status, headers, body, data)
    length = answer.header("content-length")
    if head_only or status == 304:
        assert body == b"", f"bytes after a bodiless head: {body[:100]!r}"
    elif length is not None:
        assert len(body) == int(length), (len(body), length)
    return answer


def raw_request(
    port: int,
    path: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    method: bytes = b"GET",
) -> Answer:
    """One request on its own connection (``Connection: close``), the answer parsed."""
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: test", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    request = b"\r\n".join(lines) + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = read_until_closed(sock, 10)
    return parse_answer(data, head_only=method == b"HEAD")


@dataclass
class Part:
    content_type: str
    content_range: str
    data: bytes


def parse_byteranges(body: bytes, content_type: str) -> list[Part]:
    """A multipart/byteranges body, read strictly (RFC 9110 14.6, RFC 2046 5.1)."""
    kind, _, param = content_type.partition(";")
    assert kind.strip() == "multipart/byteranges", content_type
    name, _, boundary = param.strip().partition("=")
    assert name == "boundary" and boundary, content_type
    delimiter = b"--" + boundary.encode("ascii")
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    closing = b"\r\n" + delimiter + b"--\r\n"
    assert body.endswith(closing), body[-80:]
    inner = body[len(delimiter) + 2 : -len(closing)]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, sep, data = chunk.partition(b"\r\n\r\n")
        assert sep, chunk[:80]
        fields = {}
        for line in head.decode("ascii").split("\r\n"):
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        assert set(fields) == {"content-type", "content-range"}, fields
        parts.append(Part(fields["content-type"], fields["content-range"], data))
    return parts


def check_part(part: Part, content: bytes) -> tuple[int, int]:
    """The part's (first, last), after checking its bytes are those of ``content``."""
    unit, _, spec = part.content_range.partition(" ")
    assert unit == "bytes"
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    assert int(total) == len(content)
    assert part.data == content[int(first) : int(last) + 1]
    return int(first), int(last)
