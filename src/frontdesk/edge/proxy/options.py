"""What a proxy route can be told, frozen; the defaults follow nginx's where it has one."""

from __future__ import annotations

from dataclasses import dataclass, field

from frontdesk.interfaces.proxy import TrustedProxies

#: methods a retry may send again (RFC 9110 9.2.2)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    #: seconds to open a connection to an upstream
    connect_timeout: float = 5.0
    #: seconds of silence from the upstream (between two reads) before giving up: 504
    read_timeout: float = 60.0
    #: seconds a write to the upstream may wait for its buffer to drain: 504
    send_timeout: float = 60.0
    #: upstreams one request may try (0: each of the group's servers once at most)
    max_tries: int = 0
    #: seconds within which a retry may start (0: no bound but ``max_tries``)
    retry_timeout: float = 0.0
    #: upstream statuses answered by trying another upstream (idempotent requests only)
    retry_statuses: frozenset[int] = frozenset()
    #: read the whole request body before going upstream (else stream it as it comes)
    request_buffering: bool = True
    #: request body bytes held in memory before spooling to a temporary file
    request_buffer_memory: int = 64 * 1024
    #: read the whole response before answering the client (``X-Accel-Buffering`` overrides)
    response_buffering: bool = True
    #: response body bytes held in memory before spooling to a temporary file
    response_buffer_memory: int = 1024 * 1024
    #: response body bytes buffered at most; past it, the rest is streamed
    response_buffer_max: int = 1024 * 1024 * 1024
    #: never buffer ``text/event-stream`` responses (server-sent events)
    stream_event_streams: bool = True
    #: directory of temporary files (the system's when None)
    temp_dir: str | None = None
    #: remove the route's prefix from the path sent upstream
    strip_prefix: bool = False
    #: send the upstream's address as Host, instead of the client's Host
    upstream_host: bool = False
    #: Upgrade protocols tunnelled to the upstream (others are proxied as plain HTTP)
    upgrade_protocols: frozenset[bytes] = frozenset({b"websocket"})
    #: seconds a tunnel may carry no byte either way before it is closed (0: never)
    tunnel_idle_timeout: float = 600.0
    #: the scheme clients reach this listener by; empty: as the connection says (TLS or not)
    scheme: str = ""
    #: peers whose X-Forwarded-*, Forwarded and X-Request-ID fields are believed
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    #: add the request's X-Request-ID to responses that do not carry one
    response_request_id: bool = True
    #: add the edge's ``Server-Timing: edge;dur=<ms>`` entry to every answer
    server_timing: bool = True
