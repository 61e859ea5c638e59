"""Slow clients are cut at the core's timeouts while normal clients keep being served.

The edge relies on ``HttpLimits`` for this (no filter of its own): a head must arrive whole
within ``header_timeout`` however it trickles in (slowloris), and a body may not stay silent
longer than ``body_timeout``. 150 connections send their head a byte a second and 50 stall
in their body, while a normal client keeps making requests on fresh connections.
"""

from __future__ import annotations

import socket
import time

import httpx

from frontdesk.http import HttpLimits
from frontdesk.http.echo import EchoHandler
from tests.edge.filters.support import serve

SLOW_HEADS = 150
STALLED_BODIES = 50
LIMITS = HttpLimits(header_timeout=2, body_timeout=2, keepalive_timeout=2)
HEAD = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 64
BODY_HEAD = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nx"


class Slow:
    def __init__(self, port: int, first: bytes, trickle: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.opened = time.monotonic()
        self.sock.sendall(first)
        self.sock.setblocking(False)
        self.trickle = trickle
        self.cut_after: float | None = None
        self.answer = b""

    def poll(self) -> None:
        """Read what the server sent; note when it cut us off."""
        if self.cut_after is not None:
            return
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self._cut()
                    return
                self.answer += data
        except BlockingIOError:
            pass
        except ConnectionError:
            self._cut()

    def send_byte(self) -> None:
        if self.cut_after is not None or not self.trickle:
            return
        byte, self.trickle = self.trickle[:1], self.trickle[1:]
        try:
            self.sock.send(byte)
        except ConnectionError:
            self._cut()

    def _cut(self) -> None:
        self.cut_after = time.monotonic() - self.opened


def test_slow_clients_cut_at_timeouts_while_others_are_served() -> None:
    with serve(EchoHandler(), limits=LIMITS) as server:
        slow = [Slow(server.port, HEAD[:1], HEAD[1:]) for _ in range(SLOW_HEADS)]
        slow += [Slow(server.port, BODY_HEAD, b"") for _ in range(STALLED_BODIES)]
        latencies: list[float] = []
        deadline = time.monotonic() + 8  # every loop here is bounded by this
        try:
            with httpx.Client(base_url=server.url, timeout=5) as client:
                while time.monotonic() < deadline:
                    round_end = time.monotonic() + 1.0  # a byte a second
                    for conn in slow:
                        conn.poll()
                        conn.send_byte()
                    while time.monotonic() < round_end:
                        started = time.monotonic()
                        response = client.get("/", headers={"connection": "close"})
                        assert response.status_code == 200
                        latencies.append(time.monotonic() - started)
                        time.sleep(0.05)
                    if all(conn.cut_after is not None for conn in slow):
                        break
        finally:
            for conn in slow:
                conn.sock.close()
    cuts = [conn.cut_after for conn in slow]
    assert None not in cuts, f"{cuts.count(None)} slow clients were never cut"
    times = [cut for cut in cuts if cut is not None]
    # Cut at the timeout: not before it, and within the once-a-second sweep (plus a
    # lingering close of at most 2 s for those that got an answer) after it.
    assert min(times) >= 1.5
    assert max(times) <= 2 + 1 + 2 + 1.5
    answered = [conn.answer for conn in slow if conn.answer]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answered)
    assert len(answered) >= SLOW_HEADS // 2  # a head begun and not finished gets its 408
    assert len(latencies) >= 10
    assert max(latencies) < 2.5
