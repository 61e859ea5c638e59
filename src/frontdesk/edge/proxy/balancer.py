"""Which upstream serves the next request: round-robin, weighted, least-connections, hashing.

Every balancer picks among the servers ``allowed`` says yes to (available, not yet tried for
this request), so retries and health need nothing from it.

- ``RoundRobin``: each server in turn, weights ignored.
- ``WeightedRoundRobin``: nginx's smooth weighted round-robin. Each pick adds every eligible
  server's weight to its running score, takes the highest score and subtracts the total from
  it: weights 5,1,1 give a a b a c a a, spread rather than bunched.
- ``LeastConnections``: the fewest requests in flight relative to weight; ties in turn.
- ``ConsistentHash``: a ring of virtual nodes (``vnodes`` per unit of weight) keyed by a hash
  of the client address, a header or a cookie. A key maps to the first server clockwise that
  is allowed, so removing a server moves only its own keys. No key: round-robin.

Hashes are taken with blake2b, so every worker process (and every restart) maps alike.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from frontdesk.edge.proxy.upstream import Upstream
    from frontdesk.http.request import Request

Allowed = Callable[["Upstream"], bool]


class Balancer(Protocol):
    def setup(self, servers: Sequence[Upstream]) -> None:
        """Called once with the group's servers, before the first pick."""

    def key(self, request: Request, client: str | None) -> bytes | None:
        """The request's hash key (None for balancers that use none)."""

    def pick(
        self, servers: Sequence[Upstream], key: bytes | None, allowed: Allowed
    ) -> Upstream | None: ...


class RoundRobin:
    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def setup(self, servers: Sequence[Upstream]) -> None:
        self._next = 0

    def key(self, request: Request, client: str | None) -> bytes | None:
        return None

    def pick(
        self, servers: Sequence[Upstream], key: bytes | None, allowed: Allowed
    ) -> Upstream | None:
        count = len(servers)
        start = self._next
        for i in range(count):
            server = servers[(start + i) % count]
            if allowed(server):
                self._next = (start + i + 1) % count
                return server
        return None


class WeightedRoundRobin(RoundRobin):
    __slots__ = ("_current",)

    def __init__(self) -> None:
        super().__init__()
        self._current: dict[int, int] = {}

    def setup(self, servers: Sequence[Upstream]) -> None:
        self._current = {id(s): 0 for s in servers}

    def pick(
        self, servers: Sequence[Upstream], key: bytes | None, allowed: Allowed
    ) -> Upstream | None:
        current = self._current
        best: Upstream | None = None
        best_score = 0
        total = 0
        for server in servers:
            if not allowed(server):
                continue
            score = current.get(id(server), 0) + server.weight
            current[id(server)] = score
            total += server.weight
            if best is None or score > best_score:
                best, best_score = server, score
        if best is not None:
            current[id(best)] = best_score - total
        return best


class LeastConnections(RoundRobin):
    __slots__ = ()

    def pick(
        self, servers: Sequence[Upstream], key: bytes | None, allowed: Allowed
    ) -> Upstream | None:
        count = len(servers)
        start = self._next
        best: Upstream | None = None
        best_at = 0
        for i in range(count):
            at = (start + i) % count
            server = servers[at]
            if not allowed(server):
                continue
            # active/weight < best.active/best.weight, without division
            if best is None or server.active * best.weight < best.active * server.weight:
                best, best_at = server, at
        if best is not None:
            self._next = (best_at + 1) % count
        return best


class HashKey:
    """Where a request's hash key comes from: ``client``, ``header:NAME`` or ``cookie:NAME``."""

    __slots__ = ("kind", "name")

    def __init__(self, spec: str) -> None:
        kind, _, name = spec.partition(":")
        kind = kind.strip().lower()
        if kind == "client" and not name:
            self.kind, self.name = kind, ""
        elif kind in ("header", "cookie") and name.strip():
            self.kind = kind
            self.name = name.strip().lower() if kind == "header" else name.strip()
        else:
            raise ValueError(f"hash key must be client, header:NAME or cookie:NAME: {spec!r}")

    def extract(self, request: Request, client: str | None) -> bytes | None:
        if self.kind == "client":
            return None if client is None else client.encode("latin-1")
        if self.kind == "header":
            return request.header(self.name.encode("latin-1"))
        for name, value in request.headers:
            if name != b"cookie":
                continue
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue
            morsel = jar.get(self.name)
            if morsel is not None:
                return str(morsel.value).encode("latin-1")
        return None


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class ConsistentHash:
    __slots__ = ("_fallback", "_hashes", "_nodes", "hash_key", "vnodes")

    def __init__(self, key: str | HashKey = "client", *, vnodes: int = 160) -> None:
        self.hash_key = key if isinstance(key, HashKey) else HashKey(key)
        if vnodes < 1:
            raise ValueError("a hash ring needs at least one virtual node per server")
        self.vnodes = vnodes
        self._hashes: list[int] = []
        self._nodes: list[Upstream] = []
        self._fallback = RoundRobin()

    def setup(self, servers: Sequence[Upstream]) -> None:
        ring = sorted(
            (_hash(f"{server.name}#{i}".encode()), n, server)
            for n, server in enumerate(servers)
            for i in range(self.vnodes * server.weight)
        )
        self._hashes = [h for h, _, _ in ring]
        self._nodes = [server for _, _, server in ring]

    def key(self, request: Request, client: str | None) -> bytes | None:
        return self.hash_key.extract(request, client)

    def pick(
        self, servers: Sequence[Upstream], key: bytes | None, allowed: Allowed
    ) -> Upstream | None:
        if key is None or not self._nodes:
            return self._fallback.pick(servers, None, allowed)
        nodes = self._nodes
        count = len(nodes)
        start = bisect.bisect(self._hashes, _hash(key))
        refused: set[int] = set()
        for i in range(count):
            server = nodes[(start + i) % count]
            if id(server) in refused:
                continue
            if allowed(server):
                return server
            refused.add(id(server))
            if len(refused) == len(servers):
                break
        return None


def balancer_named(name: str, *, hash_key: str = "client") -> Balancer:
    """A balancer by its configuration name."""
    if name in ("round_robin", "round-robin"):
        return RoundRobin()
    if name in ("weighted", "weighted_round_robin"):
        return WeightedRoundRobin()
    if name in ("least_conn", "least-conn", "least_connections"):
        return LeastConnections()
    if name in ("hash", "consistent_hash"):
        return ConsistentHash(hash_key)
    if name == "hash-client":
        return ConsistentHash("client")
    raise ValueError(
        f"unknown balancer {name!r} (round_robin, weighted, least_conn or consistent_hash)"
    )
