"""Listen address forms: HOST:PORT, [IPV6]:PORT, unix:PATH, fd://N."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.config import BindAddress, Invalid, parse_bind
from frontdesk.config.bind import BindText


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8000", BindAddress("tcp", host="127.0.0.1", port=8000)),
        ("0.0.0.0:0", BindAddress("tcp", host="0.0.0.0", port=0)),
        ("localhost:65535", BindAddress("tcp", host="localhost", port=65535)),
        ("Example.COM:80", BindAddress("tcp", host="example.com", port=80)),
        ("my-host.internal.:80", BindAddress("tcp", host="my-host.internal.", port=80)),
        ("[::1]:8000", BindAddress("tcp", host="::1", port=8000)),
        ("[::]:443", BindAddress("tcp", host="::", port=443)),
        ("[fe80::1%eth0]:80", BindAddress("tcp", host="fe80::1%eth0", port=80)),
        ("unix:/run/fd.sock", BindAddress("unix", path="/run/fd.sock")),
        ("unix:rel/path.sock", BindAddress("unix", path="rel/path.sock")),
        ("fd://3", BindAddress("fd", fd=3)),
    ],
)
def test_parse_bind_accepts(text: str, expected: BindAddress) -> None:
    address = parse_bind(text)
    assert address == expected
    assert parse_bind(str(address)) == address


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "expected an address"),
        ("127.0.0.1:", "port must be"),
        ("127.0.0.1:65536", "port must be"),
        ("127.0.0.1:-1", "port must be"),
        ("127.0.0.1:http", "port must be"),
        (":8000", "expected an address"),
        ("999.0.0.1:80", "not an IPv4 address"),
        ("1.2.3:80", "not an IPv4 address"),
        ("::1:8000", "needs brackets"),
        ("[::1:8000", "unclosed"),
        ("[nope]:80", "not an IPv6 address"),
        ("bad_host:80", "not a valid hostname"),
        ("-lead:80", "not a valid hostname"),
        ("unix:", "needs a socket path"),
        ("fd://", "needs a file descriptor"),
        ("fd://-1", "needs a file descriptor"),
        ("fd://x", "needs a file descriptor"),
        ("", "expected an address"),
    ],
)
def test_parse_bind_rejects(text: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        parse_bind(text)


def test_bind_address_properties() -> None:
    assert parse_bind("[::1]:80").is_ipv6
    assert not parse_bind("127.0.0.1:80").is_ipv6
    assert not parse_bind("unix:/x").is_ipv6


def test_bind_text_converter() -> None:
    conv = BindText()
    assert conv.parse(" [::1]:80 ") == "[::1]:80"
    with pytest.raises(Invalid):
        conv.from_toml(8000)


@given(st.integers(min_value=0, max_value=65535), st.ip_addresses(v=4))
def test_any_ipv4_and_port_round_trips(port: int, ip: object) -> None:
    address = parse_bind(f"{ip}:{port}")
    assert (address.host, address.port) == (str(ip), port)


@given(st.text(max_size=40))
def test_parse_bind_only_raises_invalid(text: str) -> None:
    # Whatever the text, the answer is an address or Invalid: never another exception.
    with contextlib.suppress(Invalid):
        parse_bind(text)
