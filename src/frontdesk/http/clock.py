"""A once-per-second tick: the cached Date header, and the sweep that enforces timeouts.

Per-request timer handles cost a heap push and a cancel on every request; instead each
connection writes its deadline into a float, and the tick closes the ones past it. Timeouts
are therefore honoured to within one tick (a second by default), which is ample for limits
counted in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate


def http_date(timestamp: float) -> bytes:
    return formatdate(timestamp, usegmt=True).encode("ascii")


class Clock:
    __slots__ = ("_handle", "_interval", "_loop", "_on_tick", "date_field", "now")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_tick: Callable[[float], None],
        interval: float = 1.0,
    ) -> None:
        self._loop = loop
        self._on_tick = on_tick
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self.now = loop.time()
        #: the whole ``date: ...\r\n`` field line, refreshed on each tick
        self.date_field = b""
        self._refresh()

    def _refresh(self) -> None:
        self.now = self._loop.time()
        self.date_field = b"date: " + http_date(time.time()) + b"\r\n"

    def start(self) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._refresh()
        self._handle = self._loop.call_later(self._interval, self._tick)
        self._on_tick(self.now)
