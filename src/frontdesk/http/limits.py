"""The numbers one HTTP/1.1 connection enforces, frozen and handed to every connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HttpLimits:
    #: longest request target in bytes; past it, 414
    request_line: int = 8190
    #: most header fields (trailers count too); past it, 431
    request_fields: int = 100
    #: longest single field line (name + value) in bytes; past it, 431
    request_field_size: int = 8190
    #: largest request body in bytes, 0 for no limit; past it, 413
    request_body: int = 100 * 1024 * 1024
    #: seconds to receive a whole request head once it has begun (or a connection has opened)
    header_timeout: float = 10.0
    #: seconds the body may stay silent while the handler waits for it
    body_timeout: float = 30.0
    #: seconds an idle keep-alive connection is kept; 0 turns keep-alive off
    keepalive_timeout: float = 5.0
    #: requests parsed ahead of the one being answered before reading pauses
    max_pipelined: int = 16
    #: transport write buffer marks for back-pressure towards the handler
    write_buffer_high: int = 64 * 1024
    write_buffer_low: int = 16 * 1024
    #: send ``Server: frontdesk``
    server_header: bool = True

    @property
    def max_head(self) -> int:
        """Most bytes a request head may take before it is cut off (a memory bound)."""
        return self.request_line + 16 + self.request_fields * (self.request_field_size + 2)

    @property
    def body_buffer_high(self) -> int:
        """Buffered request body past which reading from the client pauses."""
        return self.write_buffer_high

    @classmethod
    def from_config(cls, config: Any) -> HttpLimits:
        """Take the ``http`` section of a resolved ``frontdesk.config.Config``."""
        return cls(
            request_line=config.limit_request_line,
            request_fields=config.limit_request_fields,
            request_field_size=config.limit_request_field_size,
            request_body=config.limit_request_body,
            header_timeout=config.header_timeout,
            body_timeout=config.body_timeout,
            keepalive_timeout=config.keepalive_timeout,
            max_pipelined=config.max_pipelined,
            write_buffer_high=config.write_buffer_high,
            write_buffer_low=config.write_buffer_low,
            server_header=config.server_header,
        )
