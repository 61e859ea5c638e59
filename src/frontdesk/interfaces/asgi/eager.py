"""Running an ASGI request's coroutine without a Task of its own while it does not wait.

Most app calls answer without ever suspending (nothing to wait for: the body is already
here, the send buffer has room). A Task per request costs more than such a call's own
server work: the Task object, its registration in asyncio's task set, a loop iteration to
start it and a done callback. So each connection keeps one *host* Task, parked on a future
while idle, and a request's coroutine is first run right away, on the caller's stack:

- inside a fresh copy of the context, as a new Task would get, so context variables an app
  sets never leak into the next request;
- with the host entered as the current task, so ``asyncio.current_task()``, anyio's cancel
  scopes and ``asyncio.timeout`` see the task that will go on running the request;
- if the coroutine finishes in that first step, nothing was scheduled at all;
- if it suspends, the future it waits on is handed to the host, which drives the coroutine
  from there to its end (the same task all along, so whatever is keyed by the task stays
  right), then parks again.

Invariant: one host drives at most one request's coroutine; a request that cannot have the
host (it is driving an earlier request of the connection, or some task is already running,
as when a response's end starts the next pipelined request from inside the app's step)
runs in a Task of its own, exactly as it would without this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from asyncio.tasks import _enter_task, _leave_task  # C accelerated in CPython
from collections.abc import Coroutine, Generator
from typing import Any

log = logging.getLogger("frontdesk.asgi")
_current_task = asyncio.current_task
_copy_context = contextvars.copy_context

Job = tuple[Coroutine[Any, Any, None], contextvars.Context, Any]


class TaskHost:
    """A connection's host Task (see the module docstring); ``close()`` when the connection ends."""

    __slots__ = ("_job", "_wake", "busy", "closed", "loop", "task", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop, tasks: set[asyncio.Task[None]]) -> None:
        self.loop = loop
        #: the handler's set of tasks running app code: the host is in it while it drives
        self.tasks = tasks
        self.busy = False
        self.closed = False
        self._job: Job | None = None
        self._wake: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] = loop.create_task(self._serve())

    def run(self, coro: Coroutine[Any, Any, None]) -> bool:
        """Run ``coro`` on this host: its first step now, the rest (if any) on the host task.

        Returns False, having run nothing, when the host cannot take it (see the invariant).
        """
        if self.busy or self.closed:
            return False
        loop = self.loop
        if _current_task(loop) is not None:
            return False
        ctx = _copy_context()
        task = self.task
        _enter_task(loop, task)
        try:
            waiting_on = ctx.run(coro.send, None)
        except StopIteration:
            return True
        except asyncio.CancelledError:
            return True  # the request ends quietly, as a cancelled Task of its own would
        except Exception:
            # The request wrapper answers and logs app errors; this is a fault of its own.
            log.exception("ASGI request failed outside the app")
            return True
        finally:
            _leave_task(loop, task)
        self.busy = True
        self.tasks.add(task)
        self._job = (coro, ctx, waiting_on)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return True

    def close(self) -> None:
        """The connection has ended: the host stops once it has no request to finish."""
        if self.closed:
            return
        self.closed = True
        if not self.busy:
            self.task.cancel()

    async def _serve(self) -> None:
        while not self.closed or self._job is not None:
            job = self._job
            if job is None:
                wake = self._wake = self.loop.create_future()
                try:
                    await wake
                except asyncio.CancelledError:
                    # Parked, the host is cancelled by its connection's end, or by whoever
                    # stops the loop (asyncio.run cancels every task): either way it ends. A
                    # request of the connection after that gets a new host.
                    self.closed = True
                    if self._job is None:
                        return
                finally:
                    self._wake = None
                continue
            self._job = None
            coro, ctx, waiting_on = job
            try:
                await _Resume(coro, ctx, waiting_on)
            except asyncio.CancelledError:
                # The request was cancelled (by the app's own scopes, or at shutdown) and let
                # it through: it has ended, as its own Task would have; the host has not.
                self.task.uncancel()
            except Exception:
                log.exception("ASGI request failed outside the app")
            finally:
                self.busy = False
                self.tasks.discard(self.task)
            if self.closed:
                return


class _Resume:
    """Awaitable that goes on driving a coroutine suspended on ``waiting_on``, in ``ctx``."""

    __slots__ = ("coro", "ctx", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, None], ctx: contextvars.Context, waiting_on: Any):
        self.coro = coro
        self.ctx = ctx
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        return _drive(self.coro, self.ctx, self.waiting_on)


def _drive(
    coro: Coroutine[Any, Any, None], ctx: contextvars.Context, value: Any
) -> Generator[Any, Any, None]:
    # The host Task sees the futures the request's coroutine yields, and sends or throws
    # back what it would have sent it: this generator is a transparent ``yield from`` that
    # runs each step in the request's own context.
    run = ctx.run
    send = coro.send
    throw = coro.throw
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            run(coro.close)
            raise
        except BaseException as exc:
            try:
                value = run(throw, exc)
            except StopIteration:
                return
        else:
            try:
                value = run(send, sent)
            except StopIteration:
                return
