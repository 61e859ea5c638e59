"""Trusted proxy headers: the client's address, scheme and host as the first proxy saw them.

Behind a reverse proxy the peer of every connection is the proxy. The proxy reports the real
client in ``Forwarded`` (RFC 7239) or in ``X-Forwarded-For`` / ``-Proto`` / ``-Host``. Anyone
can send those headers, so they are read only from peers listed in ``forwarded_allow_ips``
(``TrustedProxies``); a unix socket peer is always trusted, as only local processes reach it.

How ``resolve`` reads them (the ASGI and WSGI layers call it once per request):

- Untrusted peer: every header is ignored; the peer is the client.
- ``Forwarded`` present (any field): it alone is read, ``X-Forwarded-*`` are ignored.
  Elements are hops, oldest first; each proxy appends one for the party that connected to it.
  The walk starts at the trusted peer and goes right to left: an element's ``for=`` is the
  next hop; a trusted next hop lets the walk go on, an untrusted one is the client. The walk
  ends on an element with an obfuscated or ``unknown`` ``for=`` (or none): the client is then
  the last named hop. ``proto=`` and ``host=`` come from the outermost element the walk
  reached that has them. An element that does not parse ends the walk and is not used.
- Otherwise ``X-Forwarded-For`` is walked the same way (the rightmost untrusted address is
  the client, so a client cannot spoof its address by sending the header itself; when every
  address is trusted, the leftmost is the client). ``X-Forwarded-Proto`` and
  ``X-Forwarded-Host``: the rightmost value of the list.
- A scheme is one of http, https, ws, wss, and follows the request kind: a WebSocket request
  (scheme ws/wss) behind ``proto=https`` gets ``wss``, an HTTP request behind ``wss`` gets
  ``https``. Anything else keeps the connection's scheme.
- Malformed values are ignored, never raised: the answer falls back to what is known.

The client's port is the one the header gives, else 0 (a proxy rarely reports it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

__all__ = ["Client", "Resolved", "TrustedProxies", "resolve"]

#: an address as ASGI's ``client``: (host, port)
Client = tuple[str, int]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Per-peer answers are cached; a busy server sees few distinct peers (its proxies). Header
# values are attacker-chosen, so the cache is bounded in entries and in key length.
_CACHE_SIZE: Final = 1024
_CACHE_KEY_MAX: Final = 64

_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})
_AS_WS: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_AS_HTTP: Final = {"http": "http", "https": "https", "ws": "http", "wss": "https"}

# Index in _collect's lists, by lower-case header name.
_FORWARDED, _XFF, _XFPROTO, _XFHOST = range(4)
_WANTED: Final = {
    b"forwarded": _FORWARDED,
    b"x-forwarded-for": _XFF,
    b"x-forwarded-proto": _XFPROTO,
    b"x-forwarded-host": _XFHOST,
}

_OWS: Final = " \t"
# RFC 9110 5.6.2 token and quoted-string; RFC 7239 4 pair. The alternatives of each repeat
# start with different characters, so matching is linear (no backtracking blow-up).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_PAIR = re.compile(rf"({_TOKEN})=(?:({_TOKEN})|{_QUOTED})", re.ASCII | re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_OWS_RUN = re.compile(r"[ \t]*")
_UNTIL_COMMA = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")*', re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_OBFPORT = re.compile(r"_[A-Za-z0-9._-]+", re.ASCII)
# A Host value: an IPv6 literal or a name (letters, digits, "-", ".", "_", "~"), and a port.
# Narrower than RFC 3986 reg-name on purpose: apps paste it into URLs and redirects.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?", re.ASCII)
_HOST_MAX: Final = 261  # a 255-byte name and ":65535"


class Resolved(NamedTuple):
    """What ``resolve`` found: ``client`` None only for a unix socket peer left unnamed."""

    client: Client | None
    scheme: str
    host: str | None


class TrustedProxies:
    """The peers whose proxy headers are believed: IPv4/IPv6 networks, or all ("*").

    ``is_trusted`` is called for every request, so answers are cached per host string, and
    ``resolve``'s answers per peer and forwarding fields. It is safe to share between
    threads: the caches are only read, set and cleared, each atomic.
    """

    __slots__ = ("_cache", "_trust_all", "_v4", "_v6", "resolved")

    def __init__(self, networks: Iterable[_Network] = (), *, trust_all: bool = False) -> None:
        nets = tuple(networks)
        self._trust_all = trust_all
        self._v4 = tuple(n for n in nets if isinstance(n, ipaddress.IPv4Network))
        self._v6 = tuple(n for n in nets if isinstance(n, ipaddress.IPv6Network))
        self._cache: dict[str, bool] = {}
        #: ``resolve``'s answers: a proxy sends the same fields for each request of a client
        self.resolved: dict[tuple[object, ...], Resolved] = {}

    @classmethod
    def from_setting(cls, entries: Sequence[str]) -> TrustedProxies:
        """From ``forwarded_allow_ips``: addresses, networks, "*"; commas also separate.

        Raises ValueError (one line) for an entry that is none of those; the config loader
        has already refused such entries, so this only fires for direct callers.
        """
        networks: list[_Network] = []
        trust_all = False
        for entry in entries:
            for part in entry.split(","):
                text = part.strip()
                if text == "*":
                    trust_all = True
                    continue
                try:
                    networks.append(ipaddress.ip_network(text, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP address or network, nor *: {text!r}") from None
        return cls(networks, trust_all=trust_all)

    @property
    def trust_all(self) -> bool:
        return self._trust_all

    def is_trusted(self, host: str | None) -> bool:
        """Whether proxy headers from ``host`` are believed. None is a unix socket peer."""
        if host is None or self._trust_all:
            return True
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        trusted = self._match(host)
        if len(host) <= _CACHE_KEY_MAX:
            if len(self._cache) >= _CACHE_SIZE:
                # Clearing (rather than evicting one) keeps this atomic under threads.
                self._cache.clear()
            self._cache[host] = trusted
        return trusted

    def _match(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # not an address (a name, garbage): never trusted
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in net for net in self._v4)
        # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
        mapped = address.ipv4_mapped
        if mapped is not None and any(mapped in net for net in self._v4):
            return True
        return any(address in net for net in self._v6)

    def __repr__(self) -> str:
        if self._trust_all:
            return "TrustedProxies('*')"
        return f"TrustedProxies({', '.join(repr(str(n)) for n in self._v4 + self._v6)})"


def resolve(
    peer: Client | None,
    scheme: str,
    headers: Iterable[tuple[bytes, bytes]],
    trusted: TrustedProxies,
) -> Resolved:
    """The client, scheme and host of a request; see the module docstring for the rules.

    ``peer`` is the connection's remote address (None for a unix socket), ``scheme`` the
    connection's (http, https, ws or wss), ``headers`` the request's with lower-case names.
    ``host`` is None unless a trusted proxy reported one. Never raises on header content.
    """
    if not trusted.is_trusted(None if peer is None else peer[0]):
        return Resolved(peer, scheme, None)
    found: list[list[bytes]] = [[], [], [], []]
    for name, value in headers:
        index = _WANTED.get(name)
        if index is not None:
            found[index].append(value)
    key = (peer, scheme, *map(tuple, found))
    cache = trusted.resolved
    answer = cache.get(key)
    if answer is not None:
        return answer
    if found[_FORWARDED]:
        answer = _from_forwarded(peer, scheme, found[_FORWARDED], trusted)
    else:
        client = peer
        if found[_XFF]:
            client = _walk(peer, _list_items(found[_XFF]), trusted)
        proto = _last_item(found[_XFPROTO])
        host = _last_item(found[_XFHOST])
        answer = Resolved(client, _scheme(scheme, proto), _host(host))
    if sum(len(value) for values in found for value in values) <= _RESOLVED_FIELD_BYTES:
        if len(cache) >= _RESOLVED_MAX:
            cache.clear()
        cache[key] = answer
    return answer


# ``TrustedProxies.resolved``: how many answers, for fields of how many bytes at most.
_RESOLVED_MAX: Final = 1024
_RESOLVED_FIELD_BYTES: Final = 2048


def _from_forwarded(
    peer: Client | None, scheme: str, fields: list[bytes], trusted: TrustedProxies
) -> Resolved:
    client = peer
    proto: str | None = None
    host: str | None = None
    # Fields are split one by one, so a broken quote in one cannot swallow the next.
    elements = [e for field in fields for e in _forwarded_elements(field.decode("latin-1"))]
    for params in reversed(elements):
        if params is None:
            break
        node = _parse_node(params["for"]) if "for" in params else _HIDDEN
        if node is None:
            break
        proto = params.get("proto", proto)
        host = params.get("host", host)
        if not isinstance(node, tuple):
            break  # a hidden hop: the last named one is as far as is known
        client = node
        if not trusted.is_trusted(node[0]):
            break
    return Resolved(client, _scheme(scheme, proto), _host(host))


def _walk(peer: Client | None, hops: list[str], trusted: TrustedProxies) -> Client | None:
    """X-Forwarded-For, right to left from the trusted peer, to the first untrusted hop."""
    client = peer
    for text in reversed(hops):
        node = _parse_node(text)
        if not isinstance(node, tuple):
            break  # "unknown" or garbage: the last named hop is as far as is known
        client = node
        if not trusted.is_trusted(node[0]):
            break
    return client


def _list_items(fields: list[bytes]) -> list[str]:
    """A comma-separated list over one or more fields (RFC 9110 5.3), empty items dropped."""
    joined = b",".join(fields).decode("latin-1")
    return [item for item in (part.strip(_OWS) for part in joined.split(",")) if item]


def _last_item(fields: list[bytes]) -> str | None:
    if not fields:
        return None
    items = _list_items(fields)
    return items[-1] if items else None


def _scheme(scheme: str, proto: str | None) -> str:
    if proto is None:
        return scheme
    proto = proto.lower()
    if proto not in _SCHEMES:
        return scheme
    if scheme in ("ws", "wss"):
        return _AS_WS[proto]
    if scheme in ("http", "https"):
        return _AS_HTTP[proto]
    return proto


def _host(host: str | None) -> str | None:
    if host is None or len(host) > _HOST_MAX or not _HOST.fullmatch(host):
        return None
    return host


# --- nodes: for= values and X-Forwarded-For items -----------------------------------------


class _Hidden:
    """A hop that exists but is not named: ``unknown`` or an obfuscated ``_identifier``."""

    __slots__ = ()


_HIDDEN: Final = _Hidden()


def _parse_node(text: str) -> Client | _Hidden | None:
    """RFC 7239 6: ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:80``, ``unknown``, ``_obf``.

    A bare IPv6 address without brackets is also taken (X-Forwarded-For writes them so).
    None for anything else.
    """
    known = _IP_CACHE.get(text)
    if known is not None:  # the common case: a bare address seen before
        return known, 0
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        address, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = _parse_port(rest[1:]) if rest else 0
        if port is None or ":" not in address:
            return None
        return _node(address, port)
    if text.count(":") > 1:
        return _node(text, 0)
    name, colon, port_text = text.partition(":")
    port = _parse_port(port_text) if colon else 0
    if port is None:
        return None
    if name.lower() == "unknown" or name.startswith("_"):
        return _HIDDEN
    return _node(name, port)


def _node(address: str, port: int) -> Client | None:
    host = _canonical_ip(address)
    return None if host is None else (host, port)


# Parsing an address costs microseconds, and the same few (proxies, frequent clients) come
# again and again: bounded like TrustedProxies' cache, for the same reasons.
_IP_CACHE: dict[str, str | None] = {}


def _canonical_ip(text: str) -> str | None:
    """``text`` as ipaddress writes it (lower case, IPv6 compressed), or None."""
    try:
        return _IP_CACHE[text]
    except KeyError:
        pass
    try:
        host: str | None = str(ipaddress.ip_address(text))
    except ValueError:
        host = None
    if len(text) <= _CACHE_KEY_MAX:
        if len(_IP_CACHE) >= _CACHE_SIZE:
            _IP_CACHE.clear()
        _IP_CACHE[text] = host
    return host


def _parse_port(text: str) -> int | None:
    if _PORT.fullmatch(text):
        port = int(text)
        return port if port <= 65535 else None
    if _OBFPORT.fullmatch(text):
        return 0
    return None


# --- the Forwarded field: elements of ;-separated name=value pairs ------------------------


def _forwarded_elements(value: str) -> list[dict[str, str] | None]:
    """RFC 7239 4: ``for=a;proto=https, for="[::1]:80"`` as one dict per element.

    Names are lower-cased; values are tokens or quoted strings (unquoted here). An element
    that does not parse (bad syntax, a repeated name) is None; parsing resumes at the next
    comma outside quotes. Empty elements are dropped, as in every HTTP list.
    """
    out: list[dict[str, str] | None] = []
    params: dict[str, str] | None = {}
    i, n = 0, len(value)
    while True:
        i = _end_of(_OWS_RUN, value, i)
        if i >= n or value[i] == ",":
            if params is None or params:
                out.append(params)
            if i >= n:
                return out
            params = {}
            i += 1
            continue
        if value[i] == ";":
            i += 1
            continue
        pair = None if params is None else _PAIR.match(value, i)
        name = "" if pair is None else pair.group(1).lower()
        if params is None or pair is None or name in params:
            params = None
            i = _skip_to_comma(value, i)
            continue
        token, quoted = pair.group(2, 3)
        if token is None:
            token = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        params[name] = token
        i = _end_of(_OWS_RUN, value, pair.end())
        if i < n and value[i] not in ",;":
            params = None
            i = _skip_to_comma(value, i)


def _skip_to_comma(value: str, i: int) -> int:
    """Index of the next comma outside a quoted string from ``i``, or the end."""
    end = _end_of(_UNTIL_COMMA, value, i)
    # Stopped on a quote: it is never closed, so the rest of the field is inside it.
    return len(value) if end < len(value) and value[end] == '"' else end


def _end_of(pattern: re.Pattern[str], value: str, i: int) -> int:
    """Where a match of ``pattern`` (one that may be empty) from ``i`` ends."""
    match = pattern.match(value, i)
    return i if match is None else match.end()
