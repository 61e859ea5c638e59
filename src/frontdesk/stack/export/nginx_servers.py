"""Which routes each nginx ``server`` holds, so that nginx routes as frontdesk's router does.

frontdesk's router tries the routes naming the request's host before the catch-all ones,
whatever their prefixes' lengths; nginx picks a ``server`` by name, then the longest prefix
in it. So each host name gets a server with its own routes (exact names before wildcards
that cover it) and only those catch-all routes its own do not cover; the catch-all server
holds the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from frontdesk.config.layout import route_key
from frontdesk.edge.site import ProxySpec, StaticSpec

__all__ = ["Route", "Server", "servers_for"]


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    hosts: tuple[str, ...]
    static: StaticSpec | None = None
    proxy: ProxySpec | None = None

    @property
    def key(self) -> str:
        return route_key(self.prefix)


def _covers(outer: str, inner: str) -> bool:
    """Whether every path under route key ``inner`` is also under route key ``outer``."""
    return outer == "/" or inner == outer or inner.startswith(outer + "/")


def _covered_by_wildcard(host: str, pattern: str) -> bool:
    return pattern.startswith("*.") and host.endswith(pattern[1:])


@dataclass
class Server:
    names: tuple[str, ...]  # empty: the catch-all server
    routes: list[Route] = field(default_factory=list)


def servers_for(routes: Sequence[Route]) -> list[Server]:
    catch_all = [r for r in routes if not r.hosts]
    hosts = list(dict.fromkeys(h for r in routes for h in r.hosts))
    servers: list[Server] = []
    for host in hosts:
        exact = [r for r in routes if host in r.hosts]
        wild = [
            r
            for r in routes
            if r not in exact and any(_covered_by_wildcard(host, p) for p in r.hosts)
        ]
        own: list[Route] = []
        for route in [*exact, *wild]:
            if not any(o.key == route.key for o in own):
                own.append(route)
        shared = [c for c in catch_all if not any(_covers(o.key, c.key) for o in own)]
        servers.append(Server((host,), [*own, *shared]))
    servers.append(Server((), catch_all))
    return servers
