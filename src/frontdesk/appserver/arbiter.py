"""The arbiter: one process that forks pools of workers, watches them, and replaces them.

It serves nothing itself. A ``Program`` (the app server today; the edge and the whole stack
later) gives it ``WorkerSpec``s, one per pool; the arbiter keeps each pool at its size and
runs one loop, never a thread, so that forking is always safe:

    wait (selector: signal wake-up pipe, worker notify pipe, control socket; tick 0.25 s)
    → act on queued signals (``handle_<signal>``) → reap exited children → read each worker's
    shared page (readiness, recycling requests) → abort silent workers, kill overdue ones
    → start missing workers, stop surplus and replaced ones → advance a reload

Signal handlers only append to a queue (SIGCHLD only wakes the loop, which reaps on every
turn). TERM and INT stop gracefully (a second INT stops fast), QUIT fast; HUP reloads (see
``rolling.py``); TTIN/TTOU add/remove a worker (a reload keeps that size unless the new
configuration changes the number of workers); USR1 reopens log files here and in workers.

Failure policy. A worker that exits before it was ever ready "failed to boot". Before the
pools were first complete, that stops the arbiter and ``run`` raises ``AppLoadError`` with the
worker's one-line reason (exit status 3); during a reload it abandons the reload and the old
workers keep serving; otherwise it is retried with back-off while siblings serve (and stops
the arbiter when none does). A ready worker that dies is replaced at once; repeated deaths
within a minute back off exponentially (0.5 s doubling, up to 30 s).
"""

from __future__ import annotations

import collections
import logging
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass

from frontdesk.errors import AppLoadError, ConfigError

from . import systemd
from .control import ControlConnection, ControlServer, answer
from .heartbeat import Notifier, Slot, WorkerState
from .process import (
    Program,
    Worker,
    WorkerContext,
    WorkerSpec,
    describe_exit,
    resident_bytes,
    send_signal,
)
from .proctitle import set_title
from .rolling import RollingReload
from .runtime import PidFile, control_path

__all__ = ["Arbiter"]

log = logging.getLogger("frontdesk.arbiter")

TICK = 0.25
#: seconds a worker has after SIGABRT (timeout) or SIGQUIT (fast stop) before SIGKILL
KILL_GRACE = 1.0
CRASH_WINDOW = 60.0
RSS_EVERY = 1.0

_HANDLED = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGCHLD,
)
_NAMES = {signum: signum.name[3:].lower() for signum in _HANDLED}


@dataclass
class _Pool:
    spec: WorkerSpec
    target: int
    generation: int


class Arbiter:
    def __init__(
        self,
        program: Program,
        *,
        control_path: str | None = None,
        control_required: bool = True,
        pid_file: str | None = None,
    ) -> None:
        self.program = program
        self.control_path = control_path
        self.control_required = control_required
        self.pid_file = PidFile(pid_file) if pid_file else None
        self.pools: dict[str, _Pool] = {}
        self.workers: dict[int, Worker] = {}
        self.generation = 1
        self.booted = False
        self.stopping: str | None = None  # "graceful" or "fast"
        self.failure: str | None = None
        self.reloads = RollingReload(self)
        self.started = time.monotonic()
        self._signals: collections.deque[int] = collections.deque()
        self._crashes: collections.deque[float] = collections.deque()
        self._spawn_after = 0.0
        self._rss_checked = 0.0
        self._selector: selectors.BaseSelector | None = None
        self._control: ControlServer | None = None
        self._clients: set[ControlConnection] = set()
        self._pipes: list[int] = []
        self._wake_r = self._wake_w = self._notify_r = self._notify_w = -1
        self._pid = os.getpid()

    # -- running ---------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; 0 after a stop. Raises AppLoadError if the workers cannot boot."""
        try:
            for spec in self.program.start():
                self.pools[spec.pool] = _Pool(spec, spec.count, self.generation)
            self._open()
            set_title("arbiter", self.program.name)
            self._loop()
        finally:
            self._close()
        if self.failure is not None:
            raise AppLoadError(self.failure)
        log.info("arbiter %d stopped", self._pid)
        return 0

    def _open(self) -> None:
        self._wake_r, self._wake_w = self._pipe()
        self._notify_r, self._notify_w = self._pipe()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._selector.register(self._notify_r, selectors.EVENT_READ, "notify")
        signal.set_wakeup_fd(self._wake_w)
        for signum in _HANDLED:
            signal.signal(signum, self._enqueue)
        if self.pid_file is not None:
            self.pid_file.create()
        if self.control_path is not None:
            try:
                self._control = ControlServer(self.control_path)
            except ConfigError as exc:
                if self.control_required:
                    raise
                log.warning("%s; running without a control socket", exc)
            else:
                self._selector.register(self._control.sock, selectors.EVENT_READ, "control")

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        for fd in (r, w):
            os.set_blocking(fd, False)
            self._pipes.append(fd)
        return r, w

    def _close(self) -> None:
        for worker in list(self.workers.values()):  # only after an error in the loop itself
            send_signal(worker.pid, signal.SIGKILL)
            os.waitpid(worker.pid, 0)
            worker.slot.close()
        self.workers.clear()
        for signum in _HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        for client in [*self._clients, *self.reloads.waiters()]:
            client.reply({"ok": False, "error": "the arbiter stopped"})
        if self._control is not None:
            self._control.close()
        if self.pid_file is not None:
            self.pid_file.remove()
        if self._selector is not None:
            self._selector.close()
        for fd in self._pipes:
            os.close(fd)
        self._pipes.clear()
        self.program.close()

    def _enqueue(self, signum: int, frame: object) -> None:
        # A signal handler: enqueue and return. The wake-up fd has already woken the loop.
        if signum != signal.SIGCHLD and len(self._signals) < 32:
            self._signals.append(signum)

    def _loop(self) -> None:
        while True:
            self._wait(self._timeout())
            while self._signals:
                name = _NAMES[signal.Signals(self._signals.popleft())]
                getattr(self, f"handle_{name}")()
            self._reap()
            if self.stopping == "graceful":
                self._stop_next_tier()
            now = time.monotonic()
            self._scan(now)
            self._check_health(now)
            if self.stopping and not self.workers:
                return
            if not self.stopping:
                self._maintain(now)
                self.reloads.advance()
            self._escalate(now)

    def _timeout(self) -> float:
        now = time.monotonic()
        soon = [w.kill_at for w in self.workers.values() if w.kill_at is not None]
        if self._spawn_after > now:
            soon.append(self._spawn_after)
        return max(0.01, min([TICK, *(t - now for t in soon)]))

    def _wait(self, timeout: float) -> None:
        assert self._selector is not None
        for key, _ in self._selector.select(timeout):
            if key.data in ("wake", "notify"):
                _drain(key.fd)
            elif key.data == "control":
                self._accept()
            else:
                self._read_client(key.data)
        now = time.monotonic()
        for client in [c for c in self._clients if c.deadline < now]:
            self._forget(client)
            client.close()

    # -- signals ---------------------------------------------------------------------------

    def handle_hup(self) -> None:
        self.reloads.request([])

    def handle_term(self) -> None:
        self.begin_stop(fast=False, reason="SIGTERM")

    def handle_int(self) -> None:
        self.begin_stop(fast=self.stopping is not None, reason="SIGINT")

    def handle_quit(self) -> None:
        self.begin_stop(fast=True, reason="SIGQUIT")

    def handle_ttin(self) -> None:
        self.resize(+1)

    def handle_ttou(self) -> None:
        self.resize(-1)

    def handle_usr1(self) -> None:
        log.info("reopening log files")
        self.program.reopen_logs()
        for worker in self.workers.values():
            send_signal(worker.pid, signal.SIGUSR1)

    def handle_chld(self) -> None:
        self._reap()

    # -- actions (signals and the control socket) ------------------------------------------

    def begin_stop(self, *, fast: bool, reason: str) -> None:
        if self.stopping == "fast" or (self.stopping and not fast):
            return
        self.stopping = "fast" if fast else "graceful"
        if self.failure is None:
            how = "fast" if fast else "gracefully, draining in-flight requests"
            log.info("%s: stopping %s", reason, how)
        systemd.notify("STOPPING=1")
        self.reloads.cancel()
        if fast:
            for worker in self.workers.values():
                self.stop_worker(worker, "shutdown", fast=True)
        else:
            self._stop_next_tier()

    def _stop_next_tier(self) -> None:
        """Gracefully: stop the workers of the lowest stop tier still running."""
        if not self.workers:
            return
        tier = min(w.spec.stop_tier for w in self.workers.values())
        for worker in self.workers.values():
            if worker.spec.stop_tier == tier and worker.kill_at is None:
                self.stop_worker(worker, "shutdown")

    def resize(self, delta: int, pool_name: str | None = None) -> int:
        """Change a pool's size (never below 1); the new size."""
        pool = self.pools[pool_name] if pool_name else next(iter(self.pools.values()))
        before = pool.target
        pool.target = max(1, pool.target + delta)
        log.info("%s workers: %d -> %d", pool.spec.pool, before, pool.target)
        return pool.target

    # -- workers ---------------------------------------------------------------------------

    def _maintain(self, now: float) -> None:
        for name, pool in self.pools.items():
            self._fill(name, pool.generation, pool.spec, pool.target, now)
        for name, generation, spec, size in self.reloads.booting():
            self._fill(name, generation, spec, size, now)

    def _fill(self, name: str, generation: int, spec: WorkerSpec, target: int, now: float) -> None:
        members = [
            w
            for w in self.workers.values()
            if w.pool == name and w.generation == generation and w.stopping is None
        ]
        active = [w for w in members if w.retiring is None]
        if now >= self._spawn_after:
            for _ in range(target - len(active)):
                self._spawn(spec, generation)
        # Surplus (TTOU): booting ones first, then the oldest.
        surplus = sorted(active, key=lambda w: (w.ready_at is not None, w.started))
        for worker in surplus[: max(0, len(active) - target)]:
            self.stop_worker(worker, "fewer workers")
            active.remove(worker)
        # A retiring worker stops once the pool can serve at full size without it.
        ready = sum(1 for w in active if w.ready_at is not None)
        retiring = sorted((w for w in members if w.retiring), key=lambda w: w.started)
        remaining = len(retiring)
        for worker in retiring:
            if ready + remaining - 1 < target:
                break
            self.stop_worker(worker, worker.retiring or "replaced")
            remaining -= 1

    def _spawn(self, spec: WorkerSpec, generation: int) -> None:
        slot = Slot()
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            slot.close()
            log.error("cannot start a worker: %s", exc)
            self._crashed(time.monotonic())
            return
        if pid == 0:
            self._child(spec, generation, slot)  # never returns
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        self.workers[pid] = Worker(pid, spec.pool, generation, slot, spec, time.monotonic())
        log.debug("started worker %d (%s, generation %d)", pid, spec.pool, generation)

    def _child(self, spec: WorkerSpec, generation: int, slot: Slot) -> None:
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in _HANDLED:
                signal.signal(signum, signal.SIG_DFL)
            # Until the worker installs its own: the arbiter's signals are not for workers,
            # QUIT (fast stop) exits at once, USR1 must not kill a booting worker.
            for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
                signal.signal(signum, signal.SIG_IGN)
            signal.signal(signal.SIGQUIT, _quit_now)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            self._close_in_child(slot)
            self.program.in_child(spec)
            ctx = WorkerContext(spec.pool, generation, slot, Notifier(self._notify_w), self._pid)
            status = spec.run(ctx)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            status = 0
        except BaseException:
            log.exception("worker %d crashed", os.getpid())
            status = 1
        finally:
            try:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)

    def _close_in_child(self, slot: Slot) -> None:
        if self._selector is not None:
            self._selector.close()
        if self._control is not None:
            self._control.close(unlink=False)
        for client in self._clients:
            client.close()
        for waiter in self.reloads.waiters():
            waiter.close()
        for worker in self.workers.values():
            worker.slot.close()
        for fd in self._pipes:
            if fd != self._notify_w:
                os.close(fd)

    def stop_worker(self, worker: Worker, reason: str, *, fast: bool = False) -> None:
        now = time.monotonic()
        if worker.stopping is None:
            worker.stopping = reason
        if fast and not worker.fast:
            worker.fast = True
            send_signal(worker.pid, signal.SIGQUIT)
            worker.kill_at = min(worker.kill_at or now + KILL_GRACE, now + KILL_GRACE)
        elif worker.kill_at is None:
            send_signal(worker.pid, signal.SIGTERM)
            worker.kill_at = now + 2 * worker.spec.graceful_timeout + 1.0

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is not None:
                self._exited(worker, status)

    def _exited(self, worker: Worker, status: int) -> None:
        slot = worker.slot
        message = slot.message if slot.state == WorkerState.FAILED else ""
        requests = slot.requests
        slot.close()
        how = describe_exit(status)
        now = time.monotonic()
        pid = worker.pid
        if worker.aborted:
            log.error("worker %d %s after its timeout", pid, how)
            if worker.ready_at is None:
                reason = (
                    f"a worker did not finish booting within --timeout {worker.spec.timeout:g} s"
                )
                self._boot_failed(worker, message or reason)
            else:
                self._crashed(now)
        elif worker.stopping is not None:
            quiet = self.failure is not None or worker.ready_at is None
            if worker.killed:
                log.warning("worker %d did not stop in time; %s", pid, how)
            else:
                log.log(
                    logging.DEBUG if quiet else logging.INFO,
                    "worker %d stopped (%s; %d requests served)",
                    pid,
                    worker.stopping,
                    requests,
                )
        elif worker.ready_at is None:
            self._boot_failed(worker, message or f"a worker failed to boot: it {how}")
        else:
            log.warning("worker %d %s unexpectedly; starting a replacement", pid, how)
            self._crashed(now)

    def _boot_failed(self, worker: Worker, reason: str) -> None:
        if self.stopping:
            return
        if not self.booted:
            self.failure = reason
            self.begin_stop(fast=True, reason="boot failure")
            return
        if self.reloads.owns(worker):
            self.reloads.fail(reason)
            return
        serving = any(
            w.pool == worker.pool and w.ready_at is not None and w.stopping is None
            for w in self.workers.values()
        )
        if not serving:
            self.failure = reason
            self.begin_stop(fast=True, reason="boot failure")
            return
        log.error("a new worker could not boot: %s", reason)
        self._crashed(time.monotonic())

    def _crashed(self, now: float) -> None:
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - CRASH_WINDOW:
            self._crashes.popleft()
        count = len(self._crashes)
        delay = 0.0 if count <= 1 else min(0.5 * 2 ** (count - 2), 30.0)
        self._spawn_after = now + delay
        if delay:
            log.warning(
                "workers keep failing (%d in the last minute); next start in %.1f s", count, delay
            )

    def _scan(self, now: float) -> None:
        for worker in self.workers.values():
            state = worker.slot.state
            if state in (WorkerState.READY, WorkerState.RETIRING) and worker.ready_at is None:
                worker.ready_at = now
                took = now - worker.started
                log.info("worker %d ready (%s, booted in %.2f s)", worker.pid, worker.pool, took)
            if state == WorkerState.RETIRING and worker.retiring is None:
                worker.retiring = "max-requests"
        if not self.booted and not self.stopping and self._complete():
            self.booted = True
            self.program.serving(first=True)
            total = sum(pool.target for pool in self.pools.values())
            log.info("arbiter %d running %s with %d workers", self._pid, self.program.name, total)
            systemd.notify("READY=1", f"MAINPID={self._pid}", f"STATUS={total} workers")

    def _complete(self) -> bool:
        for name, pool in self.pools.items():
            ready = sum(
                1
                for w in self.workers.values()
                if w.pool == name and w.ready_at is not None and w.stopping is None
            )
            if ready < pool.target:
                return False
        return True

    def _check_health(self, now: float) -> None:
        check_rss = now - self._rss_checked >= RSS_EVERY
        if check_rss:
            self._rss_checked = now
        for worker in self.workers.values():
            spec = worker.spec
            if worker.stopping is not None:
                continue  # a stopping worker is bounded by its kill deadline instead
            silent = now - worker.slot.tick
            if spec.timeout > 0 and silent > spec.timeout:
                log.error(
                    "worker %d timed out: its event loop has not ticked for %.1f s "
                    "(timeout %g s); aborting it",
                    worker.pid,
                    silent,
                    spec.timeout,
                )
                worker.aborted = True
                worker.stopping = "timeout"
                worker.kill_at = now + KILL_GRACE
                send_signal(worker.pid, signal.SIGABRT)
                continue
            if check_rss and spec.max_rss and worker.ready_at and worker.retiring is None:
                rss = resident_bytes(worker.pid)
                if rss is not None and rss > spec.max_rss:
                    log.info(
                        "worker %d uses %.0f MiB (max %.0f MiB); replacing it",
                        worker.pid,
                        rss / 1024**2,
                        spec.max_rss / 1024**2,
                    )
                    worker.retiring = "max-rss"

    def _escalate(self, now: float) -> None:
        for worker in self.workers.values():
            if worker.kill_at is not None and now >= worker.kill_at and not worker.killed:
                worker.killed = True
                send_signal(worker.pid, signal.SIGKILL)

    # -- control socket --------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._control is not None and self._selector is not None
        while (client := self._control.accept()) is not None:
            self._clients.add(client)
            self._selector.register(client.fd, selectors.EVENT_READ, client)

    def _read_client(self, client: ControlConnection) -> None:
        try:
            message = client.read()
        except EOFError:
            self._forget(client)
            return
        if message is not None:
            self._forget(client)
            answer(self, message, client)

    def _forget(self, client: ControlConnection) -> None:
        if client in self._clients:
            self._clients.discard(client)
            if self._selector is not None:
                self._selector.unregister(client.fd)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _quit_now(signum: int, frame: object) -> None:
    os._exit(0)


def arbiter_for(program: Program, control_socket: str, pid_file: str | None) -> Arbiter:
    """The arbiter of ``program`` with the control socket and pid file the settings name.

    The default control socket (``auto``) may be taken by another server on this machine;
    then this one runs without. A path the user chose must work.
    """
    return Arbiter(
        program,
        control_path=control_path(control_socket),
        control_required=control_socket.strip().lower() != "auto",
        pid_file=pid_file,
    )
