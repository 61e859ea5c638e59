"""What the proxy carries per route and per request: its counters, a request from try to try,
and the response of the try that answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frontdesk.edge.proxy.buffering import Spool
    from frontdesk.edge.proxy.client import ResponseHead, UpstreamConnection
    from frontdesk.edge.proxy.headers import Forwarding
    from frontdesk.edge.proxy.upstream import Upstream
    from frontdesk.http.exchange import Exchange


@dataclass(slots=True)
class ProxyStats:
    """Counters of one route (read by tests, later by metrics)."""

    requests: int = 0
    retries: int = 0
    keepalive_retries: int = 0
    reused_connections: int = 0
    spooled_requests: int = 0
    spooled_responses: int = 0
    streamed_responses: int = 0
    tunnels: int = 0
    failures: int = 0
    #: requests answered on the direct path, without a task
    direct: int = 0


@dataclass(slots=True, eq=False)
class Job:
    """What one proxied request carries from try to try (compared, and hashed, by identity:
    the direct path keeps its requests in a dict)."""

    exchange: Exchange
    forwarding: Forwarding
    target: bytes
    tunnel: bytes | None
    body: Spool | None
    #: the body is read from the client while it is sent (not buffered)
    streamed: bool
    #: ``time.perf_counter()`` when the request reached the route
    received: float = 0.0
    #: seconds spent waiting on upstreams (connect, send, until the response head)
    waited: float = 0.0
    #: the server of the latest try, and the tries made
    server: Upstream | None = None
    attempts: int = 0
    #: the balancer's key for the request
    key: bytes | None = None
    #: a streamed body has started to be read: the request cannot be sent again
    consumed: bool = False


@dataclass(slots=True)
class Response:
    conn: UpstreamConnection
    head: ResponseHead
    #: the body read so far when buffering (None: streamed)
    spool: Spool | None = None
