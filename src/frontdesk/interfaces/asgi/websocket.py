"""ASGI ``websocket`` scope on the websockets library's Sans-I/O protocol (being written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.asgi.http import ASGIHandler


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    max_size: int = 16 * 1024 * 1024
    max_queue: int = 32
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    per_message_deflate: bool = True


def is_websocket_upgrade(upgrade: bytes) -> bool:
    return any(p.strip().lower() == b"websocket" for p in upgrade.split(b","))


class WebSocketSession:
    def __init__(self, handler: ASGIHandler, exchange: Exchange, options: WebSocketOptions) -> None:
        self.handler = handler
        self.exchange = exchange
        self.options = options

    async def run(self) -> None:
        raise NotImplementedError
