"""Per-client concurrency limit: requests in flight per address, freed when they end or
their client goes away."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import httpx
import pytest

from frontdesk.edge.filters import ConnectionLimitFilter
from frontdesk.errors import ClientDisconnected, ConfigError
from frontdesk.http import Exchange
from tests.edge.filters.support import Scripted, serve
from tests.support.raw import read_until_closed

REQUEST = b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"


class Gate:
    """Requests to /slow wait on the server's loop until the test opens the gate."""

    def __init__(self) -> None:
        self.event: asyncio.Event | None = None
        self.waiting = 0
        self.arrived = threading.Condition()

    async def script(self, exchange: Exchange) -> None:
        if exchange.request.path == b"/slow":
            if self.event is None:
                self.event = asyncio.Event()
            with self.arrived:
                self.waiting += 1
                self.arrived.notify_all()
            await self.event.wait()
        try:
            exchange.start(200, [(b"content-type", b"text/plain")])
            exchange.end(b"done")
        except ClientDisconnected:
            pass

    def wait_for(self, count: int) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.waiting >= count, timeout=10)


def held(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(REQUEST)
        socks.append(sock)
    return socks


def test_limit_refuses_with_503_and_frees_slots_when_requests_end() -> None:
    gate = Gate()
    handler = ConnectionLimitFilter(Scripted(gate.script), limit=2)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        socks = held(server.port, 2)
        try:
            gate.wait_for(2)
            refused = client.get("/")
            assert refused.status_code == 503
            assert handler.in_flight("127.0.0.1") == 2
            assert gate.event is not None
            server.call_soon(gate.event.set)
            for sock in socks:
                sock.shutdown(socket.SHUT_WR)
                assert b" 200 " in read_until_closed(sock)
        finally:
            for sock in socks:
                sock.close()
        assert client.get("/").status_code == 200
        assert handler.in_flight("127.0.0.1") == 0


def test_status_is_configurable() -> None:
    gate = Gate()
    handler = ConnectionLimitFilter(Scripted(gate.script), limit=1, status=429)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        socks = held(server.port, 1)
        try:
            gate.wait_for(1)
            assert client.get("/").status_code == 429
            assert gate.event is not None
            server.call_soon(gate.event.set)
        finally:
            for sock in socks:
                sock.close()


def test_a_client_that_resets_frees_its_slot_even_if_never_answered() -> None:
    async def never_answers(exchange: Exchange) -> None:
        if exchange.request.path == b"/slow":
            return  # neither ends nor aborts: only the disconnect can free the slot
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.end(b"ok")

    handler = ConnectionLimitFilter(Scripted(never_answers), limit=1)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        sock = held(server.port, 1)[0]
        for _ in range(100):  # the request reaches the handler
            if handler.in_flight("127.0.0.1") == 1:
                break
            threading.Event().wait(0.02)
        assert client.get("/").status_code == 503
        # A reset, so the server learns at once that the connection is gone.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        for _ in range(100):  # the server notices the close
            if handler.in_flight("127.0.0.1") == 0:
                break
            threading.Event().wait(0.02)
        assert client.get("/").status_code == 200


def test_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        ConnectionLimitFilter(Scripted(lambda e: None), limit=0)
