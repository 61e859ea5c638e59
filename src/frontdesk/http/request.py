"""One parsed request head, validated: what every layer above the core reads.

A ``Request`` is read-only once parsed: nothing above the parser assigns its attributes or
changes its field lists. The parser relies on that when a connection sends the same bytes
again (``RequestParser._replay``): it hands on the same object for the new request.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Request:
    #: upper-case method, as sent (a token; RFC 9110 9.1)
    method: str
    #: the request target exactly as sent (origin-, absolute- or asterisk-form)
    target: bytes
    #: the path part of the target, still percent-encoded; b"*" for ``OPTIONS *``
    path: bytes
    #: the query part without its ``?``; b"" when there is none
    query: bytes
    #: "1.0" or "1.1"
    version: str
    #: field lines in arrival order, names lower-cased, values as sent (OWS stripped)
    headers: list[tuple[bytes, bytes]]
    #: the value of the single Host field (b"" when HTTP/1.0 sent none)
    host: bytes
    #: whether the client allows the connection to stay open after this exchange
    keep_alive: bool
    #: body length from Content-Length; None when chunked or absent
    content_length: int | None
    #: the body arrives in chunked coding
    chunked: bool
    #: ``Expect: 100-continue`` was sent (HTTP/1.1 only)
    expect_continue: bool
    #: the Upgrade field when the client asked to switch protocols, else None
    upgrade: bytes | None
    #: the client sent ``TE: trailers``, so it accepts trailer fields in a chunked response
    accepts_trailers: bool
    #: a Forwarded or X-Forwarded-For/-Proto/-Host field is present (proxy headers to weigh;
    #: ``rules.FORWARDING_FIELDS``)
    proxied: bool = False
    #: an X-Request-ID, X-Request-Start or Frontdesk-Trace field is present (a proxy's
    #: journey fields to weigh; see ``frontdesk.observe.journey``)
    journey: bool = False
    #: trailer fields of a chunked body, filled in once the body is complete
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def header(self, name: bytes) -> bytes | None:
        """The first value of the lower-case field ``name``, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None
