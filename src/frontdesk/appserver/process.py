"""The arbiter's vocabulary: what it runs (a ``Program`` of pools), what a pool runs
(``WorkerSpec``), what a worker is handed in its process (``WorkerContext``), and the
arbiter's record of each live worker (``Worker``).

Nothing here is specific to HTTP or to ASGI/WSGI: a pool of the app server, of the edge or of
a file watcher is a ``WorkerSpec`` whose ``run`` does the work in the forked child.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from frontdesk.config.model import Config

from .heartbeat import Heartbeat, Notifier, Slot, WorkerState

__all__ = [
    "BOOT_FAILED",
    "Program",
    "Worker",
    "WorkerContext",
    "WorkerSpec",
    "describe_exit",
    "resident_bytes",
    "send_signal",
]

#: exit status of a worker that could not boot (AppLoadError's, so the arbiter exits with it)
BOOT_FAILED = 3


class Program(Protocol):
    """What an arbiter runs. Every method runs in the arbiter, except ``in_child``."""

    #: shown in process titles, logs and ``ctl status`` (the app path, for the app server)
    name: str

    def start(self) -> Sequence[WorkerSpec]:
        """Bind what must be bound; the pools to run. Errors here stop before any fork."""
        ...

    def prepare_reload(self) -> Sequence[WorkerSpec]:
        """Re-read the configuration; the new specs of rolling pools. ConfigError: refused."""
        ...

    def commit_reload(self) -> None:
        """The new workers are all ready: the prepared configuration is now the current one."""
        ...

    def abort_reload(self) -> None:
        """The new workers could not all boot: forget the prepared configuration."""
        ...

    def serving(self, first: bool) -> None:
        """Every pool is complete (``first``: for the first time since start)."""
        ...

    def in_child(self, spec: WorkerSpec) -> None:
        """In a freshly forked worker of ``spec``, before it runs: close what it must not hold."""
        ...

    def reopen_logs(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkerSpec:
    """One pool: what each worker runs and how the arbiter watches it.

    ``run`` is called in the forked child and returns its exit status. ``timeout`` is how long
    its loop may stay silent (0: not watched); ``graceful_timeout`` how long a stopping worker
    may drain. ``rolling`` pools are replaced by a reload (HUP); others (a file watcher) stay.
    A graceful stop stops the pools of the lowest ``stop_tier`` first and each next tier once
    the workers before it have exited: the edge (0) stops taking requests before the app
    workers behind it (1) drain, so nothing the edge accepted finds no worker.
    """

    pool: str
    count: int
    run: Callable[[WorkerContext], int]
    timeout: float = 30.0
    graceful_timeout: float = 30.0
    max_rss: int = 0  # bytes; 0: no limit
    rolling: bool = True
    title: str = ""
    stop_tier: int = 0


def pool_spec(
    pool: str, config: Config, run: Callable[[WorkerContext], int], title: str
) -> WorkerSpec:
    """A rolling pool of ``config.workers`` (at least one), watched as the config says."""
    return WorkerSpec(
        pool,
        max(1, config.workers),
        run,
        timeout=config.timeout,
        graceful_timeout=config.graceful_timeout,
        max_rss=config.max_rss * 1024**2,
        title=title,
    )


@dataclass
class WorkerContext:
    """What a worker is handed in its own process: its slot, and how to reach the arbiter."""

    pool: str
    generation: int
    slot: Slot
    notifier: Notifier
    arbiter_pid: int

    def heartbeat(self, timeout: float) -> Heartbeat:
        """A heartbeat ticking often enough to be seen well within ``timeout``."""
        interval = min(1.0, timeout / 4) if timeout > 0 else 1.0
        return Heartbeat(self.slot, max(interval, 0.05))

    def _state(self, state: WorkerState) -> None:
        self.slot.set_state(state)
        self.notifier.wake()

    def ready(self) -> None:
        self._state(WorkerState.READY)

    def retire(self) -> None:
        """Ask for a replacement; keep serving until the arbiter says stop (TERM)."""
        if self.slot.state == WorkerState.READY:
            self._state(WorkerState.RETIRING)

    def draining(self) -> None:
        self._state(WorkerState.DRAINING)

    def boot_failed(self, message: str) -> int:
        """Record why the worker cannot boot; returns the exit status to exit with."""
        self.slot.fail(message)
        self.notifier.wake()
        return BOOT_FAILED


@dataclass(eq=False)
class Worker:
    """The arbiter's record of one live worker process."""

    pid: int
    pool: str
    generation: int
    slot: Slot
    spec: WorkerSpec
    started: float
    ready_at: float | None = None
    #: why it is to be replaced before it stops (max-requests, max-rss), or None
    retiring: str | None = None
    #: why the arbiter asked it to stop (reload, shrink, timeout, shutdown...), or None
    stopping: str | None = None
    fast: bool = False
    kill_at: float | None = None
    aborted: bool = False
    killed: bool = False
    last_state: WorkerState = WorkerState.BOOTING


def send_signal(pid: int, signum: int) -> bool:
    """Signal a child; False if it is already gone (it will be reaped)."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def describe_exit(status: int) -> str:
    """A waitpid status in words: "exited with status 1", "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"killed by {name}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended (status {status:#x})"


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int | None:
    """Resident memory of a process, where the OS tells it cheaply (Linux /proc), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            fields = f.read().split()
        return int(fields[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None
