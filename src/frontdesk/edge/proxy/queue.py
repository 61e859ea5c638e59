"""Requests waiting for a free connection slot of an upstream group (nginx's ``max_conns``
with ``queue``).

A server with ``max_conns`` carries at most that many requests at once. When every server
a request may use is at its limit, the request waits here, first come first served, instead
of being written on some connection the upstream cannot read yet: the edge's queue is then
the one queue, and a request goes to whichever slot frees first. This matters for app
servers that serve one request at a time per worker (WSGI apps run inline, like gunicorn's
sync workers): a request written on a kept-alive connection waits for the worker that
accepted that connection, even while another worker is idle.

A freed slot is handed to the oldest waiter at once (``Upstream.release``), counted for it,
so a request arriving meanwhile cannot take it. A waiter that was not handed a slot within
``timeout`` seconds is answered 503, as is a request arriving when ``limit`` requests wait
already; with ``overflow``, it is sent anyway instead, past the servers' ``max_conns`` (a
soft limit: the queue orders requests while the upstream keeps up, and costs a waiting
request at most ``timeout`` when the slots are held by slow requests). The queue has one
timer, for its oldest waiter.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from frontdesk.edge.proxy.upstream import Upstream


class Waiter:
    """One waiting request; subclasses say what taking a slot and timing out mean."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = 0.0

    def accepts(self, server: Upstream) -> bool:
        """Whether ``server`` may serve the request (a retry waits for another server)."""
        return True

    def take(self, server: Upstream) -> bool:
        """Take a slot on ``server`` (already counted in its ``active``): False when the
        request no longer wants it (gone, cancelled), and the slot goes to the next one."""
        raise NotImplementedError

    def expired(self, overflow: bool) -> None:
        """No slot came within the queue's timeout: answer 503, or with ``overflow`` go on
        past the servers' ``max_conns``."""
        raise NotImplementedError


class SlotQueue:
    __slots__ = ("_timer", "limit", "overflow", "timeout", "waiting")

    DEFAULT_TIMEOUT = 60.0

    def __init__(
        self, *, limit: int = 0, timeout: float = DEFAULT_TIMEOUT, overflow: bool = False
    ) -> None:
        #: requests that may wait at once (0: no limit but the timeout)
        self.limit = limit
        #: seconds a request may wait for a slot before it is answered 503
        self.timeout = timeout
        #: a request that waited ``timeout`` goes on past max_conns instead of a 503
        self.overflow = overflow
        self.waiting: deque[Waiter] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self.waiting)

    def add(self, waiter: Waiter, loop: asyncio.AbstractEventLoop) -> bool:
        """Queue ``waiter``; False when the queue is full (the caller answers 503)."""
        waiting = self.waiting
        if self.limit and len(waiting) >= self.limit:
            return False
        waiter.deadline = loop.time() + self.timeout
        waiting.append(waiter)
        if self._timer is None:
            self._timer = loop.call_at(waiter.deadline, self._expire, loop)
        return True

    def remove(self, waiter: Waiter) -> None:
        try:
            self.waiting.remove(waiter)
        except ValueError:
            pass

    def hand(self, server: Upstream) -> None:
        """A slot of ``server`` is free: the oldest waiter that still wants one gets it."""
        waiting = self.waiting
        at = 0
        while at < len(waiting) and not server.full:
            waiter = waiting[at]
            if not waiter.accepts(server):
                at += 1
                continue
            del waiting[at]
            server.active += 1
            if waiter.take(server):
                return
            server.active -= 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        waiting = self.waiting
        now = loop.time()
        while waiting and waiting[0].deadline <= now:
            waiting.popleft().expired(self.overflow)
        if waiting:
            self._timer = loop.call_at(waiting[0].deadline, self._expire, loop)
