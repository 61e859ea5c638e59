"""Active health checks: an HTTP probe to every upstream of a group, every ``interval``.

A probe is ``GET path`` on a fresh connection (never a pooled one, so it tests what a new
connection would meet), answered within ``timeout`` with a status in ``statuses``. A server
turns unhealthy after ``fall`` failed probes in a row and healthy again after ``rise`` good
ones; an unhealthy server gets no requests (``Upstream.healthy``). Servers start healthy, as
nginx's do, unless ``start_healthy`` is false.

``HealthChecker.start()`` runs the probes as a task on the running loop; ``stop()`` cancels
it and waits for it to end. Passive health (``Upstream.record_failure``) is separate and
needs no task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from frontdesk.edge.proxy.client import UpstreamError, open_connection
from frontdesk.edge.proxy.upstream import Upstream, UpstreamGroup

log = logging.getLogger("frontdesk.edge.proxy")


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str = "/"
    #: seconds between rounds of probes
    interval: float = 5.0
    #: seconds a probe may take (connect and response head)
    timeout: float = 2.0
    #: good probes in a row that bring an unhealthy server back
    rise: int = 2
    #: failed probes in a row that take a healthy server out
    fall: int = 3
    #: statuses that count as healthy; 2xx and 3xx when empty
    statuses: frozenset[int] = frozenset()
    #: the Host field of probes (the upstream's address when empty)
    host: str = ""
    start_healthy: bool = True

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("health check interval and timeout must be positive")
        if self.rise < 1 or self.fall < 1:
            raise ValueError("health check rise and fall must be at least 1")
        if not self.path.startswith("/"):
            raise ValueError(f"health check path must start with '/': {self.path!r}")

    def good(self, status: int) -> bool:
        return status in self.statuses if self.statuses else 200 <= status < 400


class HealthChecker:
    """Probes a group's servers on a timer and sets their ``healthy`` flag."""

    def __init__(
        self,
        group: UpstreamGroup,
        check: HealthCheck,
        *,
        on_change: Callable[[Upstream, bool], None] | None = None,
    ) -> None:
        self.group = group
        self.check = check
        #: called with the server and its new verdict whenever a verdict changes
        self.on_change = on_change
        self._streak: dict[int, int] = {}  # + good probes in a row, - failed ones
        self._task: asyncio.Task[None] | None = None
        #: rounds of probes completed
        self.rounds = 0
        if not check.start_healthy:
            for server in group.servers:
                server.healthy = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start probing (on the running loop); a no-op when already running."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.run_once()
            await asyncio.sleep(max(0.0, self.check.interval - (loop.time() - started)))

    async def run_once(self) -> None:
        """One round: every server probed concurrently, verdicts updated."""
        servers = self.group.servers
        results = await asyncio.gather(*(self.probe(s) for s in servers))
        for server, good in zip(servers, results, strict=True):
            self._record(server, good)
        self.rounds += 1

    def _record(self, server: Upstream, good: bool) -> None:
        check = self.check
        streak = self._streak.get(id(server), 0)
        # Positive: good probes in a row; negative: failed ones.
        streak = max(streak, 0) + 1 if good else min(streak, 0) - 1
        self._streak[id(server)] = streak
        verdict = server.healthy
        if not verdict and streak >= check.rise:
            verdict = True
        elif verdict and -streak >= check.fall:
            verdict = False
        if verdict != server.healthy:
            server.healthy = verdict
            log.warning(
                "upstream %s is %s", server.name, "healthy again" if verdict else "unhealthy"
            )
            if self.on_change is not None:
                self.on_change(server, verdict)

    async def probe(self, server: Upstream) -> bool:
        """One probe of ``server``: True when it answered in time with a good status."""
        check = self.check
        loop = asyncio.get_running_loop()
        deadline = loop.time() + check.timeout
        host = check.host.encode("latin-1") if check.host else server.address.authority
        request = (
            b"GET %b HTTP/1.1\r\nhost: %b\r\nuser-agent: frontdesk-health-check\r\n"
            b"connection: close\r\n\r\n" % (check.path.encode("latin-1"), host)
        )
        try:
            conn = await open_connection(server.address, check.timeout)
        except UpstreamError:
            return False
        try:
            conn.begin("GET")
            conn.write(request)
            head = await conn.read_head(max(0.001, deadline - loop.time()))
            return check.good(head.status)
        except UpstreamError:
            return False
        finally:
            conn.close()
