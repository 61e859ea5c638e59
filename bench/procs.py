"""Child processes, each in its own process group so that stopping one stops all it forked.

Every group started here is recorded until it is stopped; an atexit hook SIGKILLs whatever is
left, so an exception or Ctrl-C never leaves a server holding a port.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

_LIVE_GROUPS: set[int] = set()


def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _LIVE_GROUPS.discard(pgid)


atexit.register(_kill_leftovers)


def free_port() -> int:
    """An ephemeral loopback port free right now (a server that loses the race fails to start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def last_line(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a log: usually the error that made a server exit."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


class Group:
    """One command started in a new session (its pid is the process group id)."""

    def __init__(self, argv: list[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.argv = argv
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE_GROUPS.add(self.proc.pid)

    def exit_reason(self) -> str | None:
        """None while running; otherwise the exit code and the last line of the log."""
        code = self.proc.poll()
        if code is None:
            return None
        line = last_line(self.log)
        return f"exited with code {code}" + (f": {line}" if line else "")

    def stop(self, grace: float = 5.0) -> None:
        """TERM the group, wait at most ``grace`` seconds, then KILL it; always reaps."""
        pgid = self.proc.pid
        try:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(grace)
            # The leader is gone; a worker that outlived it would still hold the port.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        finally:
            if self.proc.returncode is not None:
                _LIVE_GROUPS.discard(pgid)


def group_rss(pgid: int) -> int:
    """Resident memory in bytes of every live process in process group ``pgid`` (Linux)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the command name (which may hold spaces) start past the last ")".
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue  # the process went away, or is not ours to read
    return total


def group_cpu(pgid: int) -> float:
    """CPU seconds (utime + stime) used so far by the live processes of group ``pgid`` (Linux).

    For nginx this is the master (idle) plus its worker; for a single-process server, itself.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            continue
    return total / ticks
