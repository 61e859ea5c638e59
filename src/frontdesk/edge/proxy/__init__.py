"""The edge's reverse proxy (nginx's ``proxy_pass`` and ``upstream``), as a core ``Handler``.

- ``upstream``: servers (TCP or unix socket), their passive health, and groups of them;
- ``balancer``: round-robin, smooth weighted round-robin, least-connections, consistent hash;
- ``pool``: keep-alive connections per server;
- ``queue``: requests waiting for a slot when every server is at its ``max_conns``;
- ``client``: one upstream connection, responses parsed by httptools;
- ``health``: active HTTP health checks;
- ``headers``: hop-by-hop fields dropped, forwarding fields set;
- ``buffering``: request and response bodies in memory, then in temporary files;
- ``tunnel``: upgraded connections (WebSocket) piped both ways;
- ``handler``: ``ProxyRoute``, the request flow with its retries and error answers;
- ``direct``: the task-free path of the common case; ``job``: per-request state.
"""

from __future__ import annotations

from frontdesk.edge.proxy.balancer import (
    Balancer,
    ConsistentHash,
    HashKey,
    LeastConnections,
    RoundRobin,
    WeightedRoundRobin,
    balancer_named,
)
from frontdesk.edge.proxy.handler import ProxyRoute
from frontdesk.edge.proxy.health import HealthCheck, HealthChecker
from frontdesk.edge.proxy.job import ProxyStats
from frontdesk.edge.proxy.options import ProxyOptions
from frontdesk.edge.proxy.pool import PoolOptions
from frontdesk.edge.proxy.upstream import Address, Upstream, UpstreamGroup

__all__ = [
    "Address",
    "Balancer",
    "ConsistentHash",
    "HashKey",
    "HealthCheck",
    "HealthChecker",
    "LeastConnections",
    "PoolOptions",
    "ProxyOptions",
    "ProxyRoute",
    "ProxyStats",
    "RoundRobin",
    "Upstream",
    "UpstreamGroup",
    "WeightedRoundRobin",
    "balancer_named",
]
