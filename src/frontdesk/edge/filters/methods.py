"""Allowed methods per route (nginx's ``limit_except``): other methods get 405 with ``Allow``.

Routes are path prefixes matched on segment boundaries (``/api`` covers ``/api`` and
``/api/x``, not ``/apix``); the longest matching prefix decides. Paths are compared after
percent-decoding and removing dot segments, so ``/%61pi`` and ``/x/../api`` are ``/api``
here as they will be to whatever serves them. Allowing GET allows HEAD, as in nginx. A path
no route covers is held to ``default`` (None: anything goes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote_to_bytes

from frontdesk.edge.filters.respond import refuse
from frontdesk.http.connection import Handler
from frontdesk.http.exchange import Exchange


def normalize_path(path: bytes) -> bytes:
    """``path`` percent-decoded, with empty and dot segments resolved (RFC 3986 5.2.4)."""
    segments: list[bytes] = []
    for segment in unquote_to_bytes(path).split(b"/"):
        if segment == b"..":
            if segments:
                segments.pop()
        elif segment and segment != b".":
            segments.append(segment)
    return b"/" + b"/".join(segments)


def _methods(methods: Iterable[str]) -> tuple[str, ...]:
    allowed = [m.upper() for m in methods]
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return tuple(dict.fromkeys(allowed))


class MethodFilter:
    """Hands ``inner`` requests whose method the route allows; 405 for the others."""

    def __init__(
        self,
        inner: Handler,
        routes: Mapping[str, Iterable[str]],
        *,
        default: Iterable[str] | None = None,
    ) -> None:
        self.inner = inner
        # Longest prefix first; each kept without its trailing slash for boundary matching.
        self.routes = sorted(
            ((normalize_path(p.encode()).rstrip(b"/"), _methods(m)) for p, m in routes.items()),
            key=lambda item: -len(item[0]),
        )
        self.default = _methods(default) if default is not None else None

    def allowed_for(self, path: bytes) -> tuple[str, ...] | None:
        """The methods allowed on ``path`` (as sent), or None for any."""
        if path == b"*":
            return self.default
        path = normalize_path(path)
        for prefix, methods in self.routes:
            if path == prefix or path.startswith(prefix + b"/") or not prefix:
                return methods
        return self.default

    def handle(self, exchange: Exchange) -> None:
        allowed = self.allowed_for(exchange.request.path)
        if allowed is None or exchange.request.method in allowed:
            self.inner.handle(exchange)
            return
        allow = ", ".join(allowed).encode("ascii")
        message = f"{exchange.request.method} is not allowed here"
        refuse(exchange, 405, message, [(b"allow", allow)])
