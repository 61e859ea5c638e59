"""Allow or deny clients by address (nginx's ``allow``/``deny``): the first matching rule wins.

Rules are ``("allow" | "deny", what)`` pairs, where ``what`` is an IPv4 or IPv6 address or
network in CIDR form (``10.0.0.0/8``, ``2001:db8::/32``, ``192.0.2.7``), ``all``, or ``unix:``
for clients on a unix socket. A client no rule matches is allowed, as in nginx; end the list
with ``("deny", "all")`` for an allow-list. Denied clients get 403.

An IPv4 client reaching a dual-stack IPv6 socket shows up as ``::ffff:a.b.c.d``; it is
matched as the IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from frontdesk.edge.filters.respond import refuse
from frontdesk.errors import ConfigError
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What a rule matches: a network, every client, or the clients of unix sockets.
Target = Network | Literal["all", "unix:"]


def parse_rules(rules: Sequence[tuple[str, str]]) -> list[tuple[bool, Target]]:
    """``(allowed, target)`` pairs; ConfigError on a rule that does not parse."""
    parsed: list[tuple[bool, Target]] = []
    for action, what in rules:
        if action not in ("allow", "deny"):
            raise ConfigError(f"access rule {action!r} {what!r}: the action is allow or deny")
        target: Target
        if what in ("all", "unix:"):
            target = "all" if what == "all" else "unix:"
        else:
            try:
                target = ipaddress.ip_network(what, strict=False)
            except ValueError as exc:
                raise ConfigError(f"access rule {action} {what!r}: {exc}") from None
        parsed.append((action == "allow", target))
    return parsed


def client_ip(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class AccessFilter:
    """Hands ``inner`` the requests of allowed clients; answers the others ``status``."""

    def __init__(
        self, inner: Handler, rules: Sequence[tuple[str, str]], *, status: int = 403
    ) -> None:
        self.inner = inner
        self.rules = parse_rules(rules)
        self.status = status

    def allowed(self, client: tuple[str, int] | None) -> bool:
        address = client_ip(client[0]) if client is not None else None
        for allow, target in self.rules:
            if target == "all":
                return allow
            if target == "unix:":
                if client is None:
                    return allow
            elif address is not None and address in target:
                return allow
        return True

    def handle(self, exchange: Exchange) -> None:
        if self.allowed(exchange.client):
            self.inner.handle(exchange)
        else:
            refuse(exchange, self.status, "access denied")
