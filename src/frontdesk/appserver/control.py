"""The control socket: ``frontdesk ctl status|reload|stop|add|remove`` talking to an arbiter.

One JSON object per line each way, one exchange per connection: the client sends
``{"command": "status"}`` and reads one answer, ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``. The socket is created mode 0600 (under a 0700 runtime
directory by default): whoever can connect can stop the server, so only its user may.

The server side is driven by the arbiter's selector loop and never blocks it: requests are
read as they arrive, bounded in size and time; answers are a few hundred bytes, sent with a
short timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from frontdesk.errors import ConfigError, FrontdeskError

from .process import Worker, resident_bytes
from .runtime import ensure_private_dir, runtime_dir

if TYPE_CHECKING:
    from .arbiter import Arbiter

__all__ = [
    "ControlConnection",
    "ControlError",
    "ControlServer",
    "answer",
    "format_status",
    "request",
    "status_of",
]

_MAX_REQUEST = 64 * 1024
_READ_TIMEOUT = 5.0
_SEND_TIMEOUT = 2.0


class ControlError(FrontdeskError):
    """The arbiter could not be reached, or it refused what was asked."""

    exit_status = 1


class ControlServer:
    """The listening control socket of one arbiter."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if directory == runtime_dir():
            ensure_private_dir(directory)
        _claim(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # The umask makes the socket 0600 from its first instant; chmod says so explicitly.
        old = os.umask(0o177)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"--control-socket {path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        sock.listen(16)
        sock.setblocking(False)
        self.sock = sock
        info = os.stat(path)
        self._identity = (info.st_dev, info.st_ino)

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> ControlConnection | None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        conn.setblocking(False)
        return ControlConnection(conn)

    def close(self, *, unlink: bool = True) -> None:
        """Stop listening; remove the socket file too, unless another server replaced it."""
        self.sock.close()
        if unlink:
            with contextlib.suppress(OSError):
                info = os.stat(self.path)
                if (info.st_dev, info.st_ino) == self._identity:
                    os.unlink(self.path)


def _claim(path: str) -> None:
    """Remove a stale socket left by a dead arbiter; refuse one a live arbiter listens on."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"--control-socket {path}: exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: stale
            return
    raise ConfigError(
        f"--control-socket {path}: another frontdesk arbiter is using it; give this one "
        "its own --control-socket (or none)"
    )


class ControlConnection:
    """One client of the control socket: its request, read without blocking, then one answer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()  # kept: the selector unregisters it after the socket closed
        self.deadline = time.monotonic() + _READ_TIMEOUT
        self._buffer = bytearray()
        self.closed = False

    def read(self) -> dict[str, Any] | None:
        """The request once a whole line has come; None while incomplete.

        Raises EOFError when the client went away or sent something that is not a request
        (the answer, if any, has then been sent and the connection closed).
        """
        try:
            data = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            self.close()
            raise EOFError from None
        if not data:
            self.close()
            raise EOFError
        self._buffer += data
        line, newline, _ = bytes(self._buffer).partition(b"\n")
        if not newline:
            if len(self._buffer) > _MAX_REQUEST:
                self.reply({"ok": False, "error": "request too long"})
                raise EOFError
            return None
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("command"), str):
            self.reply({"ok": False, "error": 'expected a JSON object {"command": ...}'})
            raise EOFError
        return message

    def reply(self, message: Mapping[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.sock.settimeout(_SEND_TIMEOUT)
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass  # the client gave up; nothing to tell it
        finally:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


# -- the arbiter's side: what each command does ----------------------------------------------


def answer(arbiter: Arbiter, message: dict[str, Any], client: ControlConnection) -> None:
    """Act on one request and answer it (``reload`` answers once the reload is over)."""
    command = message["command"]
    if command == "status":
        client.reply({"ok": True, **status_of(arbiter)})
    elif command == "reload":
        arbiter.reloads.request([client])
    elif command == "stop":
        client.reply({"ok": True, "message": "stopping"})
        arbiter.begin_stop(fast=False, reason="frontdesk ctl stop")
    elif command in ("add", "remove"):
        count = message.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            client.reply({"ok": False, "error": "count must be a positive integer"})
            return
        target = arbiter.resize(count if command == "add" else -count)
        client.reply({"ok": True, "message": f"{target} workers", "target": target})
    else:
        client.reply({"ok": False, "error": f"unknown command {command!r}"})


def status_of(arbiter: Arbiter) -> dict[str, Any]:
    """The arbiter, its pools and each worker: what ``ctl status`` shows."""
    now = time.monotonic()
    workers = [
        {
            "pid": worker.pid,
            "pool": worker.pool,
            "generation": worker.generation,
            "state": _state_word(worker),
            "age": round(now - worker.started, 3),
            "requests": worker.slot.requests,
            "rss": resident_bytes(worker.pid),
        }
        for worker in sorted(arbiter.workers.values(), key=lambda w: w.started)
    ]
    pools = []
    for name, pool in arbiter.pools.items():
        ready = sum(
            1
            for w in arbiter.workers.values()
            if w.pool == name and w.ready_at is not None and w.stopping is None
        )
        pools.append(
            {"name": name, "target": pool.target, "generation": pool.generation, "ready": ready}
        )
    return {
        "pid": os.getpid(),
        "app": arbiter.program.name,
        "uptime": round(now - arbiter.started, 3),
        "generation": arbiter.generation,
        "reloading": arbiter.reloads.current is not None,
        "stopping": arbiter.stopping is not None,
        "pools": pools,
        "workers": workers,
    }


def _state_word(worker: Worker) -> str:
    if worker.aborted:
        return "aborted"
    if worker.stopping is not None:
        return "stopping"
    if worker.retiring is not None:
        return "retiring"
    return "ready" if worker.ready_at is not None else "booting"


# -- the client's side: ``frontdesk ctl`` ------------------------------------------------------


def request(path: str, message: Mapping[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to the arbiter at ``path``; its answer. ControlError on any failure."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no frontdesk arbiter listens on {path} (is 'frontdesk serve --workers N' "
                "running, with this --control-socket?)"
            ) from None
        except PermissionError:
            raise ControlError(f"{path}: permission denied (run as the server's user)") from None
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = bytearray()
            while b"\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ControlError(
                f"no answer from the arbiter on {path} within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise ControlError(f"{path}: {exc.strerror or exc}") from None
    try:
        answer = json.loads(bytes(data).partition(b"\n")[0])
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"the arbiter on {path} closed the connection without an answer")
    return answer


def format_status(status: Mapping[str, Any]) -> str:
    """``ctl status`` for people: the arbiter on one line, then a table of workers."""
    pools = ", ".join(f"{p['name']} {p['ready']}/{p['target']}" for p in status.get("pools", []))
    head = (
        f"arbiter {status.get('pid')}  {status.get('app', '')}  up {_age(status.get('uptime'))}"
        f"  generation {status.get('generation')}  workers {pools}"
    )
    notes = [w for w in ("reloading", "stopping") if status.get(w)]
    if notes:
        head += "  (" + ", ".join(notes) + ")"
    rows = [("PID", "POOL", "GEN", "STATE", "AGE", "REQUESTS", "RSS MiB")]
    for w in status.get("workers", []):
        rss = w.get("rss")
        rows.append(
            (
                str(w.get("pid")),
                str(w.get("pool")),
                str(w.get("generation")),
                str(w.get("state")),
                _age(w.get("age")),
                str(w.get("requests")),
                "-" if rss is None else f"{rss / 1024**2:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join([head, *(line.rstrip() for line in lines)]) + "\n"


def _age(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
