"""The floor: the leanest uvloop + httptools server, to see how much room a Python server has.

Not a server anyone should run (no Date, no limits, no keep-alive rules, no errors handled):
it answers every request to any path with the 13-byte hello, either as a fixed response
(``raw``) or by building an ASGI scope and driving a hello coroutine to its end (``asgi``).
What it reaches under wrk is the ceiling for any server built on the same parser and loop.

    taskset -c 0 python -m bench.floor 8101 asgi &
    taskset -c 1 wrk -t2 -c64 -d5s http://127.0.0.1:8101/
"""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

import httptools
import uvloop

RAW = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!"
_FIELDS = [(b"content-type", b"text/plain")]
_START = {"type": "http.response.start", "status": 200, "headers": _FIELDS}
_BODY = {"type": "http.response.body", "body": b"Hello, world!"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(_START)
    await send(_BODY)


class Floor(asyncio.Protocol):
    def __init__(self, asgi: bool) -> None:
        self.asgi = asgi
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_message_complete(self) -> None:
        if self.asgi:
            path, _, query = self.url.partition(b"?")
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": path.decode(), "raw_path": path,
                "query_string": query, "root_path": "", "headers": self.headers,
                "client": None, "server": None, "state": {},
            }  # fmt: skip
            self.out = []
            try:
                app(scope, self.receive, self.send).send(None)
            except StopIteration:
                pass
            self.transport.write(b"".join(self.out))
        else:
            self.transport.write(RAW)
        self.headers = []
        self.url = b""

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            fields = b"".join(b"%s: %s\r\n" % (n, v) for n, v in message["headers"])
            self.out.append(b"HTTP/1.1 200 OK\r\n" + fields)
        else:
            body = message["body"]
            self.out.append(b"content-length: %d\r\n\r\n%s" % (len(body), body))


async def serve(port: int, asgi: bool) -> None:
    gc.freeze()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Floor(asgi), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "asgi"))
