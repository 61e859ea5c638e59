"""Upstream servers and the group a route proxies to (nginx's ``upstream`` block).

An ``Upstream`` is one server: where it listens (TCP ``http://host:port`` or ``unix:/path``),
its weight, its passive health (``max_fails`` failures within ``fail_timeout`` seconds take
it out for ``fail_timeout`` seconds), its active health verdict (set by ``HealthChecker``),
the requests in flight on it, and its keep-alive connection pool.

An ``UpstreamGroup`` holds the servers and a balancer, and answers "which server next?"
among those that are available and not yet tried for this request.

All state is touched from one event loop (one edge worker); nothing here is thread-safe.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frontdesk.edge.proxy.pool import ConnectionPool, PoolOptions

if TYPE_CHECKING:
    from frontdesk.edge.proxy.balancer import Balancer


@dataclass(frozen=True, slots=True)
class Address:
    """Where an upstream listens: ``host``/``port`` over TCP, or a unix socket ``path``."""

    host: str = ""
    port: int = 0
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        """``http://host:port``, ``host:port``, ``http://[::1]:port`` or ``unix:/path``."""
        if text.startswith("unix:"):
            path = text[5:]
            if path.startswith("//"):
                path = path[2:]
            if not path:
                raise ValueError(f"unix socket address without a path: {text!r}")
            return cls(path=path)
        rest = text
        if "://" in rest:
            scheme, rest = rest.split("://", 1)
            if scheme != "http":
                raise ValueError(f"upstream scheme must be http or unix: {text!r}")
        rest = rest.rstrip("/")
        if rest.startswith("["):
            host, sep, port_text = rest[1:].partition("]:")
            if not sep:
                host, port_text = rest[1:].rstrip("]"), "80"
        else:
            host, sep, port_text = rest.rpartition(":")
            if not sep:
                host, port_text = rest, "80"
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"not an upstream address (http://host:port or unix:/path): {text!r}")
        return cls(host=host, port=int(port_text))

    @property
    def authority(self) -> bytes:
        """The value of a Host field naming this upstream."""
        if self.path is not None:
            return b"localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}".encode("ascii")

    @property
    def label(self) -> str:
        """``unix:/path`` or ``host:port``: how traces and logs name this address."""
        if self.path is not None:
            return f"unix:{self.path}"
        return self.authority.decode("ascii")

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return f"http://{self.authority.decode('ascii')}"


class Upstream:
    """One server of a group, with its health and its pool."""

    __slots__ = (
        "_failures",
        "active",
        "address",
        "down_until",
        "fail_timeout",
        "healthy",
        "max_fails",
        "name",
        "pool",
        "weight",
    )

    def __init__(
        self,
        address: str | Address,
        *,
        weight: int = 1,
        max_fails: int = 1,
        fail_timeout: float = 10.0,
        pool: PoolOptions | None = None,
    ) -> None:
        if weight < 1:
            raise ValueError(f"upstream weight must be at least 1, not {weight}")
        self.address = address if isinstance(address, Address) else Address.parse(address)
        self.name = str(self.address)
        self.weight = weight
        #: failures within ``fail_timeout`` that take the server out; 0 never does
        self.max_fails = max_fails
        self.fail_timeout = fail_timeout
        #: requests in flight on this server (least-connections balances on it)
        self.active = 0
        #: the active health check's verdict (always True without one)
        self.healthy = True
        #: monotonic time until which passive health keeps the server out
        self.down_until = 0.0
        self._failures: deque[float] = deque()
        self.pool = ConnectionPool(self.address, pool or PoolOptions())

    def available(self, now: float | None = None) -> bool:
        if not self.healthy:
            return False
        if self.down_until:
            if (time.monotonic() if now is None else now) < self.down_until:
                return False
            self.down_until = 0.0
        return True

    def record_failure(self, now: float | None = None) -> None:
        """A connect error, reset, timeout or bad answer: counted within the window."""
        if self.max_fails <= 0:
            return
        now = time.monotonic() if now is None else now
        failures = self._failures
        while failures and failures[0] <= now - self.fail_timeout:
            failures.popleft()
        failures.append(now)
        if len(failures) >= self.max_fails:
            failures.clear()
            self.down_until = now + self.fail_timeout

    def record_success(self) -> None:
        # nginx forgets failures after a success once the window has passed; forgetting them
        # at once is simpler and errs towards keeping servers in.
        self._failures.clear()

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, weight={self.weight})"


class UpstreamGroup:
    """Servers behind one name, balanced by ``balancer`` (round-robin when not given)."""

    __slots__ = ("balancer", "servers")

    def __init__(
        self,
        servers: Iterable[Upstream | str],
        balancer: Balancer | None = None,
        *,
        pool: PoolOptions | None = None,
    ) -> None:
        from frontdesk.edge.proxy.balancer import RoundRobin

        self.servers: Sequence[Upstream] = tuple(
            s if isinstance(s, Upstream) else Upstream(s, pool=pool) for s in servers
        )
        if not self.servers:
            raise ValueError("an upstream group needs at least one server")
        self.balancer: Balancer = balancer or RoundRobin()
        self.balancer.setup(self.servers)

    def pick(self, key: bytes | None = None, exclude: Collection[Upstream] = ()) -> Upstream | None:
        """The next server for a request, or None when none is available and untried."""
        now = time.monotonic()

        def allowed(server: Upstream) -> bool:
            return server not in exclude and server.available(now)

        return self.balancer.pick(self.servers, key, allowed)

    def close(self) -> None:
        """Close every idle pooled connection."""
        for server in self.servers:
            server.pool.close()
