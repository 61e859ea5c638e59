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

from frontdesk.edge.filters.journey import TRACE
from frontdesk.edge.proxy.pool import ConnectionPool, PoolOptions
from frontdesk.edge.proxy.queue import SlotQueue

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


@dataclass(frozen=True, slots=True)
class ServerParameters:
    """What may follow a server's address, nginx-style: ``ADDRESS max_conns=N [wsgi_only]
    [queue_timeout=SECONDS] [overflow]``. The last two are the group's queue's."""

    address: str
    #: requests the server carries at once (0: no limit)
    max_conns: int = 0
    #: ``max_conns`` applies only once the server says it runs a WSGI app
    wsgi_only: bool = False
    #: seconds a request waits for a slot (None: the queue's default)
    queue_timeout: float | None = None
    #: a request that waited ``queue_timeout`` goes on past max_conns instead of a 503
    overflow: bool = False

    @classmethod
    def parse(cls, text: str) -> ServerParameters:
        address, *parameters = text.split() or [""]
        max_conns = 0
        wsgi_only = False
        queue_timeout: float | None = None
        overflow = False
        for parameter in parameters:
            name, sep, value = parameter.partition("=")
            try:
                if name == "max_conns" and sep:
                    max_conns = int(value)
                elif name == "queue_timeout" and sep:
                    queue_timeout = float(value)
                    if not queue_timeout > 0:
                        raise ValueError
                elif name == "overflow" and not sep:
                    overflow = True
                elif name == "wsgi_only" and not sep:
                    wsgi_only = True
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"bad server parameter {parameter!r} (max_conns=N, queue_timeout=SECONDS, "
                    f"overflow): {text!r}"
                ) from None
        return cls(address, max_conns, wsgi_only, queue_timeout, overflow)


class Upstream:
    """One server of a group, with its health and its pool."""

    __slots__ = (
        "_failures",
        "active",
        "address",
        "down_until",
        "fail_timeout",
        "healthy",
        "max_conns",
        "max_fails",
        "name",
        "pool",
        "queue",
        "weight",
        "wsgi_conns",
    )

    def __init__(
        self,
        address: str | Address,
        *,
        weight: int = 1,
        max_fails: int = 1,
        fail_timeout: float = 10.0,
        pool: PoolOptions | None = None,
        max_conns: int = 0,
        wsgi_only: bool = False,
    ) -> None:
        if weight < 1:
            raise ValueError(f"upstream weight must be at least 1, not {weight}")
        if max_conns < 0:
            raise ValueError(f"upstream max_conns must be 0 (no limit) or more, not {max_conns}")
        self.address = address if isinstance(address, Address) else Address.parse(address)
        self.name = str(self.address)
        self.weight = weight
        #: failures within ``fail_timeout`` that take the server out; 0 never does
        self.max_fails = max_fails
        self.fail_timeout = fail_timeout
        #: requests in flight on this server (least-connections balances on it)
        self.active = 0
        #: requests it carries at once at most (0: no limit); more wait in ``queue``
        self.max_conns = 0 if wsgi_only else max_conns
        #: the max_conns to take once the server says it runs a WSGI app (0: settled): a
        #: frontdesk app server answers ``Frontdesk-Trace: 1`` with its interface
        self.wsgi_conns = max_conns if wsgi_only else 0
        #: its group's queue of requests waiting for a slot (set by the group)
        self.queue: SlotQueue | None = None
        #: the active health check's verdict (always True without one)
        self.healthy = True
        #: monotonic time until which passive health keeps the server out
        self.down_until = 0.0
        self._failures: deque[float] = deque()
        self.pool = ConnectionPool(self.address, pool or PoolOptions())

    @property
    def full(self) -> bool:
        """At its ``max_conns``: a request must wait for a slot."""
        return 0 < self.max_conns <= self.active

    def release(self) -> None:
        """A request on this server is over (answered, failed or handed to a tunnel): its
        slot goes to the oldest request waiting for one."""
        self.active -= 1
        if self.max_conns:
            queue = self.queue
            if queue is not None and queue.waiting:
                queue.hand(self)

    def learn(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Take ``wsgi_conns`` as max_conns when a response's trace field says the server
        runs a WSGI app (which serves one request at a time per worker and thread)."""
        for name, value in headers:
            if name == TRACE and value.startswith(b"app;"):
                if b"interface=wsgi" in value:
                    self.max_conns = self.wsgi_conns
                self.wsgi_conns = 0
                return

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

    __slots__ = ("balancer", "limited", "queue", "servers", "single")

    def __init__(
        self,
        servers: Iterable[Upstream | str],
        balancer: Balancer | None = None,
        *,
        pool: PoolOptions | None = None,
        queue: SlotQueue | None = None,
    ) -> None:
        from frontdesk.edge.proxy.balancer import RoundRobin

        self.servers: Sequence[Upstream] = tuple(
            s if isinstance(s, Upstream) else Upstream(s, pool=pool) for s in servers
        )
        if not self.servers:
            raise ValueError("an upstream group needs at least one server")
        self.balancer: Balancer = balancer or RoundRobin()
        self.balancer.setup(self.servers)
        #: requests waiting for a slot when every server they may use is at its max_conns
        self.queue = queue if queue is not None else SlotQueue()
        for server in self.servers:
            server.queue = self.queue
        #: some server has a max_conns
        self.limited = any(server.max_conns or server.wsgi_conns for server in self.servers)
        #: the one server of a group of one (its pick needs no balancer)
        self.single = self.servers[0] if len(self.servers) == 1 else None

    def pick(
        self,
        key: bytes | None = None,
        exclude: Collection[Upstream] = (),
        *,
        limit: bool = True,
    ) -> Upstream | None:
        """The next server for a request, or None when none is available, untried and
        below its ``max_conns`` (unless ``limit`` is false: the queue let it past)."""
        single = self.single
        if single is not None:
            if single.healthy and not single.down_until and not exclude and not single.max_conns:
                return single  # the common case, without the calls below (same answer)
            if single in exclude or (limit and single.full) or not single.available():
                return None
            return single
        now = time.monotonic()

        def allowed(server: Upstream) -> bool:
            return server not in exclude and not (limit and server.full) and server.available(now)

        return self.balancer.pick(self.servers, key, allowed)

    def saturated(self, exclude: Collection[Upstream] = ()) -> bool:
        """Some server the request may use is available but at its ``max_conns``: the
        request is to wait in ``queue`` for a slot."""
        if not self.limited:
            return False
        now = time.monotonic()
        return any(
            server.full and server not in exclude and server.available(now)
            for server in self.servers
        )

    def close(self) -> None:
        """Close every idle pooled connection."""
        for server in self.servers:
            server.pool.close()
        self.queue.close()
