"""Trusted proxy headers: who may set them, X-Forwarded-*, RFC 7239 Forwarded, bad input."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.interfaces.proxy import Client, Resolved, TrustedProxies, resolve

Headers = list[tuple[bytes, bytes]]

LOCAL = TrustedProxies.from_setting(["127.0.0.1", "::1"])  # the setting's default
PROXIES = TrustedProxies.from_setting(["10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1"])
ANY = TrustedProxies.from_setting(["*"])

PEER: Client = ("127.0.0.1", 40000)
PROXY_HEADERS: Headers = [
    (b"x-forwarded-for", b"203.0.113.7"),
    (b"x-forwarded-proto", b"https"),
    (b"x-forwarded-host", b"example.com"),
    (b"forwarded", b'for=198.51.100.1;proto=https;host="example.org"'),
]


def _xff(value: bytes, *more: tuple[bytes, bytes]) -> Headers:
    return [(b"host", b"internal"), (b"x-forwarded-for", value), *more]


def _fwd(*values: bytes) -> Headers:
    return [(b"forwarded", value) for value in values]


# --- TrustedProxies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("127.0.0.2", False),
        ("10.0.0.1", False),
        ("0:0:0:0:0:0:0:1", True),
        ("::ffff:127.0.0.1", True),  # an IPv4 peer on a dual-stack socket
        ("localhost", False),
        ("", False),
    ],
)
def test_default_trusts_loopback_only(host: str, trusted: bool) -> None:
    assert LOCAL.is_trusted(host) is trusted
    assert LOCAL.is_trusted(host) is trusted  # the cached answer agrees


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("10.0.0.1", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("::ffff:10.1.2.3", True),
        ("2001:db8:ffff::1", True),
        ("2001:db8:ffff:ffff::1", True),
        ("2001:db8:fffe::1", False),
        ("2001:DB8:FFFF::1", True),
        ("::1", False),
    ],
)
def test_cidr_networks_ipv4_and_ipv6(host: str, trusted: bool) -> None:
    assert PROXIES.is_trusted(host) is trusted


def test_star_trusts_everything_and_unix_peers_are_always_trusted() -> None:
    assert ANY.trust_all
    assert ANY.is_trusted("198.51.100.1") and ANY.is_trusted("not-an-ip")
    nobody = TrustedProxies.from_setting([])
    assert not nobody.is_trusted("127.0.0.1")
    assert nobody.is_trusted(None)
    assert LOCAL.is_trusted(None)


def test_from_setting_takes_commas_and_drops_host_bits() -> None:
    trusted = TrustedProxies.from_setting(["10.1.2.3/24, 192.168.0.1", "fd00::/8"])
    assert trusted.is_trusted("10.1.2.200")
    assert trusted.is_trusted("192.168.0.1")
    assert trusted.is_trusted("fd12::1")
    assert not trusted.is_trusted("10.1.3.1")
    assert repr(trusted) == "TrustedProxies('10.1.2.0/24', '192.168.0.1/32', 'fd00::/8')"
    assert repr(ANY) == "TrustedProxies('*')"


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "", "1.2.3.4:80"])
def test_from_setting_rejects_bad_entries_in_one_line(entry: str) -> None:
    with pytest.raises(ValueError, match=r"^not an IP address or network, nor \*: ") as info:
        TrustedProxies.from_setting(["127.0.0.1", entry])
    assert "\n" not in str(info.value)


def test_cache_is_bounded() -> None:
    trusted = TrustedProxies.from_setting(["10.0.0.0/8"])
    for i in range(3000):
        host = str(ipaddress.IPv4Address(0x0A000000 + i * 7919 % 0x1000000))
        assert trusted.is_trusted(host)
    assert trusted.is_trusted("1.2.3.4" + "0" * 100) is False  # long keys are not cached
    assert len(trusted._cache) <= 1024


def test_resolved_answers_are_remembered_per_peer_scheme_and_fields() -> None:
    trusted = TrustedProxies.from_setting(["127.0.0.1"])
    first = resolve(PEER, "http", _xff(b"203.0.113.7"), trusted)
    assert resolve(PEER, "http", _xff(b"203.0.113.7"), trusted) is first  # remembered
    # Any difference in what decides the answer gives that input's own answer.
    assert resolve(PEER, "http", _xff(b"203.0.113.8"), trusted).client == ("203.0.113.8", 0)
    assert resolve(PEER, "https", _xff(b"203.0.113.7"), trusted).scheme == "https"
    assert resolve(("127.0.0.1", 9), "http", [], trusted).client == ("127.0.0.1", 9)
    proto = [*_xff(b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    assert resolve(PEER, "http", proto, trusted).scheme == "https"
    for i in range(3000):
        resolve(PEER, "http", _xff(b"203.0.%d.%d" % (i // 256, i % 256)), trusted)
    assert len(trusted.resolved) <= 1024
    long_chain = _xff(b", ".join([b"203.0.113.7"] * 300))
    resolve(PEER, "http", long_chain, trusted)
    assert all(len(key) < 2100 for key in map(repr, trusted.resolved))  # long fields not kept


# --- untrusted peers ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https", "ws", "wss"])
def test_untrusted_peer_ignores_every_header(scheme: str) -> None:
    peer = ("198.51.100.99", 5555)
    assert resolve(peer, scheme, PROXY_HEADERS, LOCAL) == (peer, scheme, None)


def test_result_is_a_named_tuple() -> None:
    result = resolve(PEER, "http", _xff(b"203.0.113.7"), LOCAL)
    assert isinstance(result, Resolved)
    client, scheme, host = result
    assert (result.client, result.scheme, result.host) == (client, scheme, host)


def test_trusted_peer_without_headers_keeps_the_connection() -> None:
    assert resolve(PEER, "https", [(b"host", b"x")], LOCAL) == (PEER, "https", None)


# --- X-Forwarded-* -----------------------------------------------------------------------


def test_trusted_peer_uses_x_forwarded() -> None:
    headers = [
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"example.com:8443"),
    ]
    assert resolve(PEER, "http", headers, LOCAL) == (
        ("203.0.113.7", 0),
        "https",
        "example.com:8443",
    )


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        # Each proxy appends the address that connected to it; the peer is the last proxy.
        (b"203.0.113.7, 10.0.0.2, 10.0.0.3", ("203.0.113.7", 0)),
        # A client that sends its own header cannot pick its address: the rightmost
        # untrusted hop wins, whatever is left of it.
        (b"1.1.1.1, 203.0.113.7, 10.0.0.2", ("203.0.113.7", 0)),
        (b"10.9.9.9, 203.0.113.7", ("203.0.113.7", 0)),
        # Every hop trusted: the leftmost is the client (an internal caller).
        (b"10.0.0.5, 10.0.0.2", ("10.0.0.5", 0)),
        (b"203.0.113.7:5678", ("203.0.113.7", 5678)),
        (b"[2001:db8::7]:4711, 2001:db8:ffff::2", ("2001:db8::7", 4711)),
        (b"2001:DB8::7", ("2001:db8::7", 0)),
        (b"203.0.113.7,,10.0.0.2, ", ("203.0.113.7", 0)),
    ],
)
def test_x_forwarded_for_chains(chain: bytes, client: Client) -> None:
    assert resolve(PEER, "http", _xff(chain), PROXIES).client == client


def test_several_x_forwarded_for_fields_are_one_list() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-for", b"10.0.0.2")]
    assert resolve(PEER, "http", headers, PROXIES).client == ("203.0.113.7", 0)
    headers = [(b"x-forwarded-for", b"10.0.0.2"), (b"x-forwarded-for", b"203.0.113.7")]
    assert resolve(PEER, "http", headers, PROXIES).client == ("203.0.113.7", 0)


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        (b"garbage", PEER),
        (b"203.0.113.7, unknown", PEER),
        (b"203.0.113.7, garbage, 10.0.0.2", ("10.0.0.2", 0)),
        (b"203.0.113.7:99999", PEER),
        (b"[2001:db8::1", PEER),
        (b"[1.2.3.4]:80", PEER),
        (b"1.2.3.4:80:90", PEER),
        (b"", PEER),
    ],
)
def test_malformed_x_forwarded_for_keeps_the_last_known_hop(chain: bytes, client: Client) -> None:
    assert resolve(PEER, "http", _xff(chain), PROXIES).client == client


@pytest.mark.parametrize(
    ("proto", "scheme", "expected"),
    [
        (b"https", "http", "https"),
        (b"HTTPS", "http", "https"),
        (b"http", "https", "http"),
        (b"http, https", "http", "https"),  # the rightmost value
        (b"https, http", "https", "http"),
        (b"https, ", "http", "https"),
        (b"ftp", "http", "http"),
        (b"", "https", "https"),
        (b"https", "ws", "wss"),  # a WebSocket request behind TLS
        (b"http", "wss", "ws"),
        (b"wss", "http", "https"),
        (b"ws", "ws", "ws"),
    ],
)
def test_x_forwarded_proto(proto: bytes, scheme: str, expected: str) -> None:
    headers = [(b"x-forwarded-proto", proto)]
    assert resolve(PEER, scheme, headers, LOCAL).scheme == expected


@pytest.mark.parametrize(
    ("value", "host"),
    [
        (b"example.com", "example.com"),
        (b"a.example, b.example", "b.example"),
        (b"example.com:8080", "example.com:8080"),
        (b"[2001:db8::1]:8080", "[2001:db8::1]:8080"),
        (b"exa mple.com", None),
        (b"example.com/path", None),
        (b"evil.com\r\nx: y", None),
        (b"", None),
        (b"a" * 300, None),
    ],
)
def test_x_forwarded_host(value: bytes, host: str | None) -> None:
    headers = [(b"x-forwarded-host", value)]
    assert resolve(PEER, "http", headers, LOCAL).host == host


def test_ipv6_peer() -> None:
    peer = ("2001:db8:ffff::5", 443)
    assert resolve(peer, "http", _xff(b"203.0.113.7"), PROXIES).client == ("203.0.113.7", 0)
    assert resolve(("2001:db8::5", 1), "http", _xff(b"203.0.113.7"), PROXIES).client == (
        "2001:db8::5",
        1,
    )


def test_star_trusts_every_hop() -> None:
    peer = ("198.51.100.99", 1)
    result = resolve(
        peer, "http", _xff(b"1.1.1.1, 203.0.113.7", (b"x-forwarded-proto", b"https")), ANY
    )
    assert result == (("1.1.1.1", 0), "https", None)


def test_unix_socket_peer_is_trusted() -> None:
    assert resolve(None, "http", [], LOCAL) == (None, "http", None)
    assert resolve(None, "http", _xff(b"203.0.113.7"), LOCAL).client == ("203.0.113.7", 0)
    assert resolve(None, "http", _xff(b"garbage"), LOCAL).client is None
    assert resolve(None, "http", _fwd(b"for=_nginx;proto=https"), LOCAL) == (None, "https", None)


# --- Forwarded (RFC 7239) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"for=192.0.2.60", (("192.0.2.60", 0), "http", None)),
        (
            b"For=192.0.2.60;Proto=HTTPS;Host=example.com",
            (("192.0.2.60", 0), "https", "example.com"),
        ),
        (b'for="192.0.2.60:8080"', (("192.0.2.60", 8080), "http", None)),
        (b'for="[2001:db8:cafe::17]:4711"', (("2001:db8:cafe::17", 4711), "http", None)),
        (b'for="[2001:db8:cafe::17]"', (("2001:db8:cafe::17", 0), "http", None)),
        (b'for="2001:db8:cafe::17"', (("2001:db8:cafe::17", 0), "http", None)),
        (b'for="192.0.2.60:_port"', (("192.0.2.60", 0), "http", None)),
        (b"for=192.0.2.60;proto=https;by=203.0.113.43", (("192.0.2.60", 0), "https", None)),
        (b'for="\\1\\9\\2.0.2.60"', (("192.0.2.60", 0), "http", None)),  # quoted-pairs
        (b"for = 192.0.2.60", (PEER, "http", None)),  # no blanks around "="
        (
            b'host="example.com:8000";for=192.0.2.60',
            (("192.0.2.60", 0), "http", "example.com:8000"),
        ),
        (b"for=192.0.2.60 ; proto=https", (("192.0.2.60", 0), "https", None)),
    ],
)
def test_forwarded_parsing(value: bytes, expected: Resolved) -> None:
    assert resolve(PEER, "http", _fwd(value), LOCAL) == expected


@pytest.mark.parametrize(
    ("value", "client"),
    [
        (b"for=_hidden", PEER),
        (b"for=unknown", PEER),
        (b'for="UNKNOWN:80"', PEER),
        (b"for=_abc.def-1", PEER),
        (b"proto=https", PEER),  # no for=: the peer is the last named hop
        # Obfuscated past a trusted hop: that hop is as far as is known.
        (b"for=_hidden, for=10.0.0.2", ("10.0.0.2", 0)),
        (b"for=unknown, for=10.0.0.2", ("10.0.0.2", 0)),
    ],
)
def test_forwarded_obfuscated_keeps_the_previous_hop(value: bytes, client: Client) -> None:
    assert resolve(PEER, "http", _fwd(value), PROXIES).client == client


def test_forwarded_obfuscated_element_still_gives_proto_and_host() -> None:
    assert resolve(PEER, "http", _fwd(b'for=_gw;proto=https;host="a.example"'), LOCAL) == (
        PEER,
        "https",
        "a.example",
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # client -> 10.0.0.2 -> 10.0.0.3 (peer 127.0.0.1); each proxy appends one element.
        (
            [b"for=203.0.113.7;proto=https;host=a.example, for=10.0.0.2;proto=http"],
            (("203.0.113.7", 0), "https", "a.example"),
        ),
        ([b"for=1.1.1.1, for=203.0.113.7, for=10.0.0.2"], (("203.0.113.7", 0), "http", None)),
        # The outermost element reached without proto= takes the nearer one's.
        ([b"for=203.0.113.7, for=10.0.0.2;proto=https"], (("203.0.113.7", 0), "https", None)),
        # An untrusted hop stops the walk: its element's proto= is the last believed.
        (
            [b"for=1.1.1.1;proto=http, for=203.0.113.7;proto=https"],
            (("203.0.113.7", 0), "https", None),
        ),
        # Several fields are one list.
        ([b"for=203.0.113.7;proto=https", b"for=10.0.0.2"], (("203.0.113.7", 0), "https", None)),
        ([b"for=10.0.0.5, for=10.0.0.2"], (("10.0.0.5", 0), "http", None)),
        ([b'for="[2001:db8::9]:1", for="[2001:db8:ffff::1]"'], (("2001:db8::9", 1), "http", None)),
    ],
)
def test_forwarded_chains(fields: list[bytes], expected: Resolved) -> None:
    assert resolve(PEER, "http", _fwd(*fields), PROXIES) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([b"for="], (PEER, "http", None)),
        ([b"for"], (PEER, "http", None)),
        ([b'for="192.0.2.60'], (PEER, "http", None)),  # unterminated quote
        ([b"for=192.0.2.60;for=192.0.2.61"], (PEER, "http", None)),  # a repeated name
        ([b"for=192.0.2.60 x"], (PEER, "http", None)),
        ([b"for=example.com"], (PEER, "http", None)),  # a name is not a node
        ([b"for=192.0.2.60:99999"], (PEER, "http", None)),
        ([b'for="[192.0.2.60]"'], (PEER, "http", None)),
        ([b"for=192.0.2.60;proto=ftp"], (("192.0.2.60", 0), "http", None)),
        ([b'for=192.0.2.60;host="a/b"'], (("192.0.2.60", 0), "http", None)),
        ([b"for=192.0.2.60;host=a/b"], (PEER, "http", None)),  # "/" needs quotes
        # A broken element ends the walk; the good ones to its right still count.
        ([b"for=203.0.113.7, garbage, for=10.0.0.2;proto=https"], (("10.0.0.2", 0), "https", None)),
        # A broken quote in one field does not swallow the next field.
        ([b'for="1.1.1.1', b"for=203.0.113.7"], (("203.0.113.7", 0), "http", None)),
        # ... but inside one field it swallows the rest: nothing is believed.
        ([b'for="1.1.1.1, for=203.0.113.7'], (PEER, "http", None)),
        ([b'a="x,y", for=203.0.113.7'], (("203.0.113.7", 0), "http", None)),
        ([b", ,for=203.0.113.7,"], (("203.0.113.7", 0), "http", None)),
    ],
)
def test_forwarded_malformed_falls_back(fields: list[bytes], expected: Resolved) -> None:
    assert resolve(PEER, "http", _fwd(*fields), PROXIES) == expected


def test_forwarded_takes_precedence_over_x_forwarded() -> None:
    result = resolve(PEER, "http", PROXY_HEADERS, LOCAL)
    assert result == (("198.51.100.1", 0), "https", "example.org")
    # Even a Forwarded field that names nobody turns X-Forwarded-* off.
    headers = [(b"x-forwarded-for", b"203.0.113.7"), *_fwd(b"proto=https")]
    assert resolve(PEER, "http", headers, LOCAL) == (PEER, "https", None)
    headers = [(b"x-forwarded-proto", b"https"), *_fwd(b"garbage")]
    assert resolve(PEER, "http", headers, LOCAL) == (PEER, "http", None)


def test_websocket_scheme_follows_forwarded_proto() -> None:
    assert resolve(PEER, "ws", _fwd(b"for=192.0.2.60;proto=https"), LOCAL).scheme == "wss"
    assert resolve(PEER, "wss", _fwd(b"for=192.0.2.60;proto=http"), LOCAL).scheme == "ws"


# --- never raises ------------------------------------------------------------------------

_NAMES = st.sampled_from(
    [b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"host"]
)
_ALPHABET = st.sampled_from([*b'"\\,;=:[]._ \t0123456789abcdefABCDEFforwunknhtps', 0, 255])
_VALUES = st.one_of(st.binary(max_size=80), st.lists(_ALPHABET, max_size=80).map(bytes))
_PEERS = st.sampled_from([None, PEER, ("10.0.0.2", 1), ("198.51.100.1", 2), ("::1", 3)])


@given(
    st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
    _PEERS,
    st.sampled_from(["http", "https", "ws", "wss"]),
    st.sampled_from([LOCAL, PROXIES, ANY]),
)
def test_never_raises_on_arbitrary_header_bytes(
    headers: Headers, peer: Client | None, scheme: str, trusted: TrustedProxies
) -> None:
    client, got_scheme, host = resolve(peer, scheme, headers, trusted)
    assert got_scheme in ("http", "https", "ws", "wss")
    assert (got_scheme in ("ws", "wss")) == (scheme in ("ws", "wss"))
    if client is not None:
        ipaddress.ip_address(client[0])
        assert 0 <= client[1] <= 65535
    if host is not None:
        assert host.isascii() and host.isprintable() and " " not in host
    if not trusted.is_trusted(None if peer is None else peer[0]):
        assert (client, got_scheme, host) == (peer, scheme, None)


_PUBLIC = st.integers(0x01000000, 0x09FFFFFF).map(lambda n: str(ipaddress.IPv4Address(n)))
_INTERNAL = st.integers(0x0A000000, 0x0AFFFFFF).map(lambda n: str(ipaddress.IPv4Address(n)))


@given(st.lists(st.one_of(_PUBLIC, _INTERNAL), min_size=1, max_size=8))
def test_x_forwarded_for_client_is_rightmost_untrusted(chain: list[str]) -> None:
    untrusted = [hop for hop in chain if not PROXIES.is_trusted(hop)]
    expected = untrusted[-1] if untrusted else chain[0]
    header = ", ".join(chain).encode()
    assert resolve(PEER, "http", _xff(header), PROXIES).client == (expected, 0)
    forwarded = ", ".join(f"for={hop}" for hop in chain).encode()
    assert resolve(PEER, "http", _fwd(forwarded), PROXIES).client == (expected, 0)
