"""ASGI WebSocket apps and a raw-socket WebSocket client for ``test_asgi_websocket.py``.

Apps report what they saw through a ``queue.Queue`` (thread-safe: the server runs its loop in
a thread), so tests wait on the queue with a timeout instead of sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.frames import Frame, Opcode

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

TIMEOUT = 10.0


class Reports:
    """What an app saw, handed to the test thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def get(self, timeout: float = TIMEOUT) -> Any:
        return self.queue.get(timeout=timeout)


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def recording_app(reports: Reports, **accept: Any) -> App:
    """Accepts (with ``accept`` keys), reports the scope, then every message it receives.

    A text message ``close CODE REASON`` makes it close; ``send-after`` makes it report what
    ``send`` raises once the client is gone.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reports.put(("scope", scope))
        await receive()
        await send({"type": "websocket.accept", **accept})
        while True:
            message = await receive()
            reports.put(("message", message))
            if message["type"] == "websocket.disconnect":
                again = await receive()
                reports.put(("again", again))
                try:
                    await send({"type": "websocket.send", "text": "too late"})
                except BaseException as exc:
                    reports.put(("send-error", exc))
                return
            text = message.get("text") or ""
            if text.startswith("close"):
                _, code, reason = text.split(" ", 2)
                await send({"type": "websocket.close", "code": int(code), "reason": reason})
                reports.put(("after-close", await receive()))
                return

    return app


async def subprotocol_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    offered = scope["subprotocols"]
    chosen = "chat" if "chat" in offered else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    await send({"type": "websocket.send", "text": ",".join(offered)})
    await send({"type": "websocket.close"})


async def forbid_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close"})


async def deny_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Token")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"token"})


def failing_app(*, after_accept: bool) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if after_accept:
            await send({"type": "websocket.accept"})
            await receive()
        raise RuntimeError("boom")

    return app


async def quitting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, says hello and returns without closing."""
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "hello"})


def slow_hello_app(delay: float) -> App:
    """Accepts and says hello only after ``delay`` seconds (keepalive must keep it open)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await asyncio.sleep(delay)
        await send({"type": "websocket.send", "text": "still here"})
        await receive()

    return app


class ChatRoom:
    """Broadcasts every text message to every member (including the sender)."""

    def __init__(self) -> None:
        self.members: set[Send] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        self.members.add(send)
        await send({"type": "websocket.send", "text": f"welcome {len(self.members)}"})
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                for member in list(self.members):
                    try:
                        await member({"type": "websocket.send", "text": message["text"]})
                    except OSError:
                        self.members.discard(member)
        finally:
            self.members.discard(send)


def fastapi_app(reports: Reports) -> FastAPI:
    """A FastAPI WebSocket endpoint as anyone would write it."""
    api = FastAPI()

    @api.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str, token: str = "") -> None:
        await websocket.accept(subprotocol="json")
        await websocket.send_json({"room": room, "token": token})
        try:
            while True:
                data = await websocket.receive_json()
                if data.get("bye"):
                    await websocket.close(code=4100, reason="bye")
                    return
                await websocket.send_json({"echo": data})
        except WebSocketDisconnect as exc:
            reports.put(exc.code)

    return api


def connection_of(receive: Receive) -> Any:
    """The ``WebSocketConnection`` behind an app's ``receive`` (for flow-control tests)."""
    return receive.__self__._connection  # type: ignore[attr-defined]


async def wait_for(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` on the loop for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


# -- a raw client, for what a well-behaved client library will not do ---------------------


class RawClient:
    """Handshake by hand, then masked frames out and unmasked frames in."""

    def __init__(
        self,
        port: int,
        path: str = "/",
        *,
        key: bytes | None = None,
        version: bytes = b"13",
        handshake: bool = True,
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.status = 0
        self.head = b""
        if handshake:
            self.key = base64.b64encode(os.urandom(16)) if key is None else key
            self.send_raw(
                b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                b"Sec-WebSocket-Version: %s\r\n\r\n" % (path.encode(), self.key, version)
            )
            self.read_head()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.buffer += data
        return bool(data)

    def read_head(self, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise ConnectionError(f"closed during the head: {self.buffer!r}")
        self.head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(self.head.split(b" ", 2)[1])

    def read_body(self, timeout: float = TIMEOUT) -> bytes:
        """The rest until the server closes (for a refused handshake)."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        return self.buffer

    def send_frame(self, opcode: Opcode, data: bytes, fin: bool = True) -> None:
        self.send_raw(Frame(opcode, data, fin).serialize(mask=True))

    def recv_frame(self, timeout: float = TIMEOUT) -> tuple[Opcode, bytes] | None:
        """The next frame as (opcode, payload), or None when the server ended the stream."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            if not self._fill(deadline):
                return None

    def _parse(self) -> tuple[Opcode, bytes] | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        length, offset = buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,), offset = struct.unpack("!H", buf[2:4]), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,), offset = struct.unpack("!Q", buf[2:10]), 10
        if len(buf) < offset + length:
            return None
        self.buffer = buf[offset + length :]
        return Opcode(buf[0] & 0x0F), buf[offset : offset + length]

    def wait_closed(self, timeout: float = TIMEOUT) -> None:
        """Read (and drop) until the server closes the TCP connection."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            self.buffer = b""

    def close(self) -> None:
        self.sock.close()


def close_payload(data: bytes) -> tuple[int, str]:
    if not data:
        return 1005, ""
    return struct.unpack("!H", data[:2])[0], data[2:].decode()
