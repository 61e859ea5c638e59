"""Starting ``frontdesk serve --workers N`` for the arbiter tests, and watching its workers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from frontdesk.appserver.control import request
from tests.support.processes import REPO, ServerProcess

APPS = str(REPO / "tests" / "appserver" / "apps")


class Pool:
    """A running arbiter: its process, its control socket, its URL."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        app: str = "pool_apps:app",
        workers: int | None = 2,
        env: dict[str, str] | None = None,
        logs_to_stderr: bool = True,
    ) -> None:
        self.logs_to_stderr = logs_to_stderr
        self.control = str(tmp_path / "control.sock")
        argv = ["serve", app, "--app-dir", APPS, "-b", "127.0.0.1:0"]
        if workers is not None:
            argv += ["-w", str(workers)]
        argv += ["--control-socket", self.control, *args]
        self.server = ServerProcess(argv, env=env)
        self.url = ""

    def __enter__(self) -> Pool:
        try:
            self._wait_started()
        except BaseException:
            self.server.stop()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def _wait_started(self) -> None:
        if self.logs_to_stderr:
            self.url = self.server.url()  # logged once every worker is ready
            return
        deadline = time.monotonic() + 15
        while not os.path.exists(self.control):
            assert self.server.proc.poll() is None, self.server.output
            assert time.monotonic() < deadline, "the control socket never appeared"
            time.sleep(0.02)
        self.wait_status(lambda s: all(p["ready"] == p["target"] for p in s["pools"]), "ready")

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def status(self) -> dict[str, Any]:
        answer = request(self.control, {"command": "status"}, timeout=10)
        assert answer["ok"], answer
        return answer

    def ready_pids(self, status: dict[str, Any] | None = None) -> set[int]:
        status = status or self.status()
        return {w["pid"] for w in status["workers"] if w["state"] == "ready"}

    def wait_status(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 15.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not {what} within {timeout}s: {status}\n{self.server.output}"
                )
            time.sleep(0.02)

    def wait_ready(
        self, count: int, *, exclude: Sequence[int] = (), timeout: float = 15.0
    ) -> set[int]:
        """Until ``count`` workers are ready and none of the others is still around."""

        def settled(status: dict[str, Any]) -> bool:
            pids = {w["pid"] for w in status["workers"]}
            ready = self.ready_pids(status)
            return len(ready) == count and pids == ready and not pids & set(exclude)

        return self.ready_pids(self.wait_status(settled, f"{count} workers ready", timeout))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
