"""A small, strict load generator for tests: keep-alive HTTP/1.1 over raw sockets, in threads.

Strict on purpose: a request counts as failed on any error (a reset, a connection closed
before the answer, a status other than 200), with no retry, so "zero failures" means the
server lost nothing. A ``Connection: close`` answer is followed by a new connection, as any
client does. Bounded: at most ``total`` requests, and ``stop()`` ends it early.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: answer bodies and how often each came back
    bodies: collections.Counter[str] = field(default_factory=collections.Counter)
    #: bodies in the order they came back (all threads together)
    order: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + self.failed


class Load:
    def __init__(
        self,
        url: str,
        *,
        path: str = "/",
        connections: int = 4,
        total: int = 4000,
        timeout: float = 10.0,
    ) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: frontdesk-tests\r\n\r\n"
        ).encode()
        self.total = total
        self.timeout = timeout
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._started = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(connections)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()

    @property
    def done(self) -> int:
        with self._lock:
            return self.result.total

    def wait_done(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` requests have been answered (or have failed)."""
        deadline = time.monotonic() + timeout
        while self.done < count:
            if not any(t.is_alive() for t in self._threads):
                raise AssertionError(f"load ended at {self.done} requests, before {count}")
            assert time.monotonic() < deadline, f"only {self.done} of {count} requests in time"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 60.0) -> LoadResult:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "a load thread did not finish"
        return self.result

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._started >= self.total:
                return False
            self._started += 1
            return True

    def _record(self, body: str | None, error: str | None) -> None:
        with self._lock:
            if error is None and body is not None:
                self.result.ok += 1
                self.result.bodies[body] += 1
                self.result.order.append(body)
            else:
                self.result.failed += 1
                if len(self.result.errors) < 20:
                    self.result.errors.append(error or "no body")

    def _run(self) -> None:
        sock: socket.socket | None = None
        reader = None
        while self._take():
            try:
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=self.timeout)
                    reader = sock.makefile("rb")
                assert reader is not None
                sock.sendall(self.request)
                status, body, close = _read_response(reader)
                if status != 200:
                    self._record(None, f"status {status}: {body[:80]!r}")
                else:
                    self._record(body, None)
                if close:
                    reader.close()
                    sock.close()
                    sock = reader = None
            except (OSError, ValueError) as exc:
                self._record(None, f"{type(exc).__name__}: {exc}")
                if sock is not None:
                    sock.close()
                sock = reader = None
        if sock is not None:
            sock.close()


def _read_response(reader: object) -> tuple[int, str, bool]:
    readline = reader.readline  # type: ignore[attr-defined]
    read = reader.read  # type: ignore[attr-defined]
    status_line = readline(65536)
    if not status_line:
        raise ValueError("connection closed before the answer")
    parts = status_line.split(b" ", 2)
    status = int(parts[1])
    length = 0
    close = False
    while True:
        line = readline(65536)
        if not line:
            raise ValueError("connection closed in the answer's head")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and b"close" in value.lower():
            close = True
    body = read(length) if length else b""
    if len(body) != length:
        raise ValueError("connection closed in the answer's body")
    return status, body.decode(), close
