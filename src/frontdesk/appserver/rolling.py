"""Rolling reload (SIGHUP, ``frontdesk ctl reload``): the new generation serves before the old
one stops.

1. The program re-reads its configuration. A value that does not validate refuses the reload
   (logged, answered to ``ctl``); nothing else happens.
2. A new generation of each rolling pool boots beside the serving one; both accept on the same
   listening sockets, so no connection waits on a worker that is going away.
3. Once every new worker is ready, the program commits the configuration and the old workers
   drain (``HttpServer.shutdown(hold_idle=True)``). If a new worker fails to boot instead
   (the new code does not import),
   the new generation is stopped, the program forgets the configuration, and the old workers
   serve on as if nothing had happened.

One reload at a time: a request during one is queued and runs after it, with the files as
they are then. ``ctl reload`` is answered when the reload is over, either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frontdesk.errors import ConfigError

from . import systemd
from .control import ControlConnection
from .process import Worker, WorkerSpec

if TYPE_CHECKING:
    from .arbiter import Arbiter

__all__ = ["RollingReload"]

log = logging.getLogger("frontdesk.arbiter")


@dataclass
class _Generation:
    number: int
    specs: dict[str, WorkerSpec]
    #: each pool's size in the new generation: its current size (as TTIN/TTOU left it),
    #: unless the new configuration changes the number of workers
    counts: dict[str, int]
    started: float
    waiters: list[ControlConnection] = field(default_factory=list)


class RollingReload:
    """The arbiter's reload in progress, if any, and the requests queued behind it."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.current: _Generation | None = None
        self._queued: list[ControlConnection] | None = None

    def booting(self) -> Iterator[tuple[str, int, WorkerSpec, int]]:
        """(pool, generation, spec, size) of the generation being booted, for the pool keeper."""
        if self.current is not None:
            for name, spec in self.current.specs.items():
                yield name, self.current.number, spec, self.current.counts[name]

    def owns(self, worker: Worker) -> bool:
        return self.current is not None and worker.generation == self.current.number

    def waiters(self) -> list[ControlConnection]:
        waiting = list(self.current.waiters) if self.current is not None else []
        return waiting + (self._queued or [])

    def request(self, waiters: list[ControlConnection]) -> None:
        """Start a reload, or queue one behind the reload in progress."""
        arbiter = self.arbiter
        if arbiter.stopping:
            _answer(waiters, {"ok": False, "error": "the arbiter is stopping"})
            return
        if self.current is not None:
            self._queued = (self._queued or []) + waiters
            return
        try:
            specs = arbiter.program.prepare_reload()
        except ConfigError as exc:
            log.error("reload refused: %s; the current workers keep serving", exc)
            _answer(waiters, {"ok": False, "error": f"reload refused: {exc}"})
            return
        except Exception as exc:  # a bug must not take the serving workers down with it
            log.exception("reload failed; the current workers keep serving")
            _answer(waiters, {"ok": False, "error": f"reload failed: {type(exc).__name__}: {exc}"})
            return
        systemd.notify("RELOADING=1", systemd.monotonic_usec(), "STATUS=reloading")
        arbiter.generation += 1
        pools = arbiter.pools
        rolling = {s.pool: s for s in specs if s.rolling and s.pool in pools}
        counts = {
            name: pools[name].target if spec.count == pools[name].spec.count else spec.count
            for name, spec in rolling.items()
        }
        self.current = _Generation(arbiter.generation, rolling, counts, time.monotonic())
        self.current.waiters += waiters
        log.info(
            "reloading: starting %d new workers (generation %d)",
            sum(counts.values()),
            arbiter.generation,
        )

    def advance(self) -> None:
        """Commit once every worker of the new generation is ready."""
        new = self.current
        if new is None:
            return
        workers = self.arbiter.workers.values()
        for name, count in new.counts.items():
            ready = sum(
                1
                for w in workers
                if w.pool == name
                and w.generation == new.number
                and w.ready_at is not None
                and w.stopping is None
            )
            if ready < count:
                return
        arbiter = self.arbiter
        arbiter.program.commit_reload()
        old = 0
        for name, spec in new.specs.items():
            pool = arbiter.pools[name]
            pool.spec, pool.target, pool.generation = spec, new.counts[name], new.number
            for worker in workers:
                if worker.pool == name and worker.generation < new.number:
                    old += worker.stopping is None
                    arbiter.stop_worker(worker, "reload")
        took = time.monotonic() - new.started
        log.info(
            "reload complete in %.1f s: generation %d serving, %d old workers draining",
            took,
            new.number,
            old,
        )
        self._end(ok=True, message=f"generation {new.number} serving")
        arbiter.program.serving(first=False)

    def fail(self, message: str) -> None:
        """A worker of the new generation could not boot: back to the old one."""
        new = self.current
        assert new is not None
        for worker in self.arbiter.workers.values():
            if worker.generation == new.number:
                self.arbiter.stop_worker(worker, "reload failed")
        self.arbiter.program.abort_reload()
        log.error("reload failed: %s; the previous workers keep serving", message)
        self._end(ok=False, message=f"reload failed: {message}")

    def cancel(self) -> None:
        """The arbiter stops: answer everyone waiting (its workers are being stopped)."""
        if self.current is not None:
            self.arbiter.program.abort_reload()
            self._end(ok=False, message="the arbiter is stopping")

    def _end(self, *, ok: bool, message: str) -> None:
        assert self.current is not None
        waiters, self.current = self.current.waiters, None
        if not self.arbiter.stopping:
            systemd.notify("READY=1", f"STATUS={message}")
        answer = {"ok": True, "message": message} if ok else {"ok": False, "error": message}
        _answer(waiters, answer)
        queued, self._queued = self._queued, None
        if queued is not None:
            self.request(queued)


def _answer(waiters: list[ControlConnection], answer: dict[str, Any]) -> None:
    for waiter in waiters:
        waiter.reply(answer)
