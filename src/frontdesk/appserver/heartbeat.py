"""A worker's heartbeat and status, in a page of memory it shares with the arbiter.

The arbiter maps one anonymous shared page per worker just before forking it. The worker's own
event loop writes into it, from a callback scheduled on that loop and never from a side thread:
a loop that is blocked stops ticking, so a wedged worker looks dead, which is the point. The
arbiter reads the page without a system call: the last tick, the requests served, the worker's
state and, when it could not boot, the one-line reason.

Invariants: every field is written by the worker only, except the first tick, which the
arbiter sets before forking (so that a worker that never starts its loop times out too). Each
numeric field is one aligned store of at most 8 bytes, which no reader sees half-written.
Ticks are ``time.monotonic()``, a clock shared by all processes of the machine.

A worker also wakes the arbiter when its state changes, by writing a byte to a pipe shared by
all workers (``Notifier``); the arbiter then reads the pages. A lost byte (full pipe) costs
only latency: the arbiter reads every page on its periodic tick anyway.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import mmap
import os
import time
from collections.abc import Callable

__all__ = ["MESSAGE_MAX", "Heartbeat", "Notifier", "Slot", "WorkerState"]

#: bytes of a boot failure message kept (UTF-8, cut at a character boundary)
MESSAGE_MAX = 2000


class WorkerState(enum.IntEnum):
    BOOTING = 0  # forked; loading the app, running lifespan startup
    READY = 1  # accepting connections
    RETIRING = 2  # serving, and asks for a replacement (max requests, max RSS)
    DRAINING = 3  # stopped accepting; finishing in-flight requests
    FAILED = 4  # could not boot; the message says why


class _Page(ctypes.Structure):
    _fields_ = [
        ("tick", ctypes.c_double),
        ("requests", ctypes.c_uint64),
        ("state", ctypes.c_uint32),
        ("length", ctypes.c_uint32),
        ("message", ctypes.c_char * MESSAGE_MAX),
    ]


class Slot:
    """One worker's shared page. Create it in the arbiter, before the fork."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, max(mmap.PAGESIZE, ctypes.sizeof(_Page)))
        self._page: _Page | None = _Page.from_buffer(self._map)
        self._page.tick = time.monotonic()

    @property
    def page(self) -> _Page:
        if self._page is None:
            raise ValueError("slot is closed")
        return self._page

    @property
    def tick(self) -> float:
        return float(self.page.tick)

    @property
    def requests(self) -> int:
        return int(self.page.requests)

    @property
    def state(self) -> WorkerState:
        try:
            return WorkerState(self.page.state)
        except ValueError:  # a scribbling app; treat the worker as booting
            return WorkerState.BOOTING

    @property
    def message(self) -> str:
        page = self.page
        raw = bytes(page.message)[: min(page.length, MESSAGE_MAX)]
        return raw.decode("utf-8", "replace")

    def beat(self, requests: int | None = None) -> None:
        page = self.page
        page.tick = time.monotonic()
        if requests is not None:
            page.requests = requests

    def set_state(self, state: WorkerState) -> None:
        self.page.state = int(state)

    def fail(self, message: str) -> None:
        # Cut at a character boundary so the reader decodes what was written.
        raw = message.encode("utf-8")[:MESSAGE_MAX].decode("utf-8", "ignore").encode("utf-8")
        page = self.page
        page.message = raw
        page.length = len(raw)
        page.state = int(WorkerState.FAILED)

    def close(self) -> None:
        # The ctypes view exports the map's buffer; drop it first or close() refuses.
        self._page = None
        self._map.close()


class Notifier:
    """The write end of the pipe that wakes the arbiter; every worker holds a copy."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def wake(self) -> None:
        try:
            os.write(self.fd, b"!")
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # the arbiter is behind (it will read the page on its tick) or gone


class Heartbeat:
    """Ticks a slot from the running event loop every ``interval`` seconds.

    ``count`` names where the number of requests served comes from; each tick copies it into
    the slot, which is how ``frontdesk ctl status`` knows it.

    Each tick also checks that the arbiter is still this worker's parent: one killed outright
    (SIGKILL, the OOM killer) cannot stop its workers, and a worker left behind would keep its
    listeners and its app alive with nobody to replace or stop it. ``on_orphaned`` is called
    once when that happens (the worker drains and exits).
    """

    def __init__(self, slot: Slot, interval: float) -> None:
        self.slot = slot
        self.interval = interval
        self._count: Callable[[], int] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parent = os.getppid()
        self.on_orphaned: Callable[[], None] | None = None

    def count(self, source: Callable[[], int]) -> None:
        self._count = source

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tick()

    def last(self) -> None:
        """A final beat once the loop is over: the arbiter logs the count when it reaps."""
        source = self._count
        self.slot.beat(source() if source is not None else None)

    def _tick(self) -> None:
        source = self._count
        self.slot.beat(source() if source is not None else None)
        if self.on_orphaned is not None and os.getppid() != self._parent:
            orphaned, self.on_orphaned = self.on_orphaned, None
            orphaned()
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval, self._tick)
