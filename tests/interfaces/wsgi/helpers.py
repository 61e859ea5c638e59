"""Serving WSGI test apps in-process over real sockets, and reading raw responses."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from frontdesk.http import HttpLimits
from frontdesk.interfaces.wsgi import WSGIHandler
from tests.support.raw import read_until_closed
from tests.support.threaded import ThreadedServer, serving

App = Callable[..., Any]


@contextmanager
def wsgi_server(
    app: App,
    *,
    threads: int = 1,
    limits: HttpLimits | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    **options: Any,
) -> Iterator[ThreadedServer]:
    handler = WSGIHandler(app, threads=threads, **options)
    try:
        with serving(handler, limits, loop_factory) as server:
            yield server
    finally:
        handler.close()


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def settle(read: Callable[[], int], timeout: float = 5.0) -> int:
    """Wait until ``read()`` stops changing (a producer has stalled); its last value."""
    previous = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value == previous:
            return value
        previous = value
        time.sleep(0.1)
    return read()


class Reply:
    """One raw HTTP/1.1 response: status, header fields (lower-case names), decoded body."""

    def __init__(self, raw: bytes) -> None:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete head in {raw[:200]!r}"
        self.head = head
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.fields = [
            (name.lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:])
        ]
        self.headers = dict(self.fields)
        self.raw_body = rest
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.complete = True
        if self.chunked:
            self.body = b""
            self.complete = False
            while True:
                size_line, sep, rest = rest.partition(b"\r\n")
                if not sep or not re.fullmatch(rb"[0-9a-fA-F]+", size_line):
                    break
                size = int(size_line, 16)
                if size == 0:
                    self.complete = rest.startswith(b"\r\n")
                    break
                self.body += rest[:size]
                rest = rest[size + 2 :]
        else:
            self.body = rest
            if "content-length" in self.headers:
                self.complete = len(rest) == int(self.headers["content-length"])

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(port: int, request: bytes, timeout: float = 10.0) -> Reply:
    """Send a raw request (which should close the connection) and parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return Reply(read_until_closed(sock, timeout))


def get(port: int, target: str = "/", extra: str = "", version: str = "1.1") -> Reply:
    head = f"GET {target} HTTP/{version}\r\nHost: test\r\n{extra}Connection: close\r\n\r\n"
    return fetch(port, head.encode("latin-1"))


# Bytes read past the end of a response (the next pipelined one), per socket.
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_reply(sock: socket.socket, timeout: float = 10.0) -> Reply:
    """Read one complete response (length or chunked framing) from a kept-alive socket;
    bytes of the responses after it are kept for the next call."""
    deadline = time.monotonic() + timeout
    data = _LEFTOVER.pop(sock, b"")
    while True:
        end = _response_end(data)
        if end is not None:
            _LEFTOVER[sock] = data[end:]
            return Reply(data[:end])
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data[:300]!r}"
        data += chunk
        assert time.monotonic() < deadline, "response not complete in time"


def _response_end(data: bytes) -> int | None:
    """Where the first response in ``data`` ends, if it is all there."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = Reply(data[: head_end + 4])
    position = head_end + 4
    if head.status in (204, 304):
        return position
    if not head.chunked:
        if "content-length" not in head.headers:
            return None  # close-delimited: not a response to read on a kept-alive socket
        end = position + int(head.headers["content-length"])
        return end if len(data) >= end else None
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(data[position:line_end], 16)
        position = line_end + 2 + size + 2
        if len(data) < position:
            return None
        if size == 0:
            return position
