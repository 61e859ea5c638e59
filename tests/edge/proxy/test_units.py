"""The proxy's pieces on their own: addresses, balancers, spools, field rewriting, pages."""

from __future__ import annotations

import pytest

from frontdesk.edge.proxy import (
    Address,
    HashKey,
    HealthCheck,
    Upstream,
    UpstreamGroup,
    WeightedRoundRobin,
    balancer_named,
)
from frontdesk.edge.proxy.buffering import Spool
from frontdesk.edge.proxy.headers import forwarding_for, response_fields, upstream_fields
from frontdesk.edge.proxy.pages import error_page
from frontdesk.http.request import Request
from frontdesk.interfaces.proxy import TrustedProxies


@pytest.mark.parametrize(
    ("text", "address", "shown"),
    [
        ("http://127.0.0.1:8000", Address("127.0.0.1", 8000), "http://127.0.0.1:8000"),
        ("localhost:9000", Address("localhost", 9000), "http://localhost:9000"),
        ("http://[::1]:8080/", Address("::1", 8080), "http://[::1]:8080"),
        ("http://app", Address("app", 80), "http://app:80"),
        ("unix:/run/app.sock", Address(path="/run/app.sock"), "unix:/run/app.sock"),
    ],
)
def test_addresses(text: str, address: Address, shown: str) -> None:
    assert Address.parse(text) == address
    assert str(address) == shown


@pytest.mark.parametrize("text", ["https://x:1", "unix:", "http://:80", "x:99999", "x:port"])
def test_bad_addresses_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"upstream|unix"):
        Address.parse(text)


def test_smooth_weighted_sequence_matches_nginx() -> None:
    servers = [Upstream(f"http://s{n}:80", weight=w) for n, w in enumerate((5, 1, 1))]
    group = UpstreamGroup(servers, WeightedRoundRobin())
    picks = [group.pick() for _ in range(7)]
    # nginx's documented order for weights 5, 1, 1: a a b a c a a
    assert [servers.index(p) for p in picks if p is not None] == [0, 0, 1, 0, 2, 0, 0]


def test_excluded_and_unavailable_servers_are_skipped() -> None:
    servers = [Upstream(f"http://s{n}:80") for n in range(3)]
    group = UpstreamGroup(servers)
    servers[1].healthy = False
    assert {group.pick() for _ in range(4)} == {servers[0], servers[2]}
    assert group.pick(exclude=[servers[0], servers[2]]) is None


def test_balancers_by_name_and_bad_keys() -> None:
    for name in ("round_robin", "weighted", "least_conn", "consistent_hash"):
        assert balancer_named(name) is not None
    with pytest.raises(ValueError, match="unknown balancer"):
        balancer_named("random")
    with pytest.raises(ValueError, match="hash key"):
        HashKey("query:x")
    with pytest.raises(ValueError, match="weight"):
        Upstream("http://x:1", weight=0)
    with pytest.raises(ValueError, match="at least one"):
        UpstreamGroup([])
    with pytest.raises(ValueError, match="path"):
        HealthCheck(path="health")


def test_spool_moves_to_a_file_past_its_memory_bound(tmp_path: object) -> None:
    spool = Spool(10)
    spool.write(b"12345")
    assert spool.file is None and spool.getvalue() == b"12345"
    spool.write(b"6789012345")
    spool.write(b"end")
    assert spool.file is not None and spool.size == 18
    assert b"".join(spool.pieces()) == b"123456789012345end"
    with pytest.raises(ValueError, match="file"):
        spool.getvalue()
    spool.close()
    assert spool.file is None


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request(
        "GET", b"/", b"/", b"", "1.1", headers, b"h", True, None, False, False, None, False
    )


def test_forwarding_of_an_ipv6_peer_and_of_a_unix_socket_peer() -> None:
    untrusted = TrustedProxies()
    six = forwarding_for([], "2001:db8::1", "https", untrusted)
    fields = dict(upstream_fields([], b"h", six, client_host=b"h"))
    assert fields[b"forwarded"] == b'for="[2001:db8::1]";proto=https;host=h'
    assert fields[b"x-forwarded-for"] == b"2001:db8::1"
    unix = forwarding_for([(b"x-request-id", b"abc")], None, "http", untrusted)
    assert unix.trusted and unix.request_id == b"abc"  # a unix socket peer is local: trusted
    fields = dict(upstream_fields([], b"h", unix))
    assert fields[b"x-forwarded-for"] == b"unknown"
    assert b"x-forwarded-host" not in fields


def test_a_malformed_request_id_is_replaced_even_from_a_trusted_peer() -> None:
    trusted = TrustedProxies(trust_all=True)
    kept = forwarding_for([(b"x-request-id", b"a b")], "10.0.0.1", "http", trusted)
    assert kept.request_id != b"a b"


def test_tunnel_response_fields_keep_upgrade() -> None:
    headers = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"), (b"x-a", b"1")]
    assert response_fields(headers, tunnel=True) == [
        (b"upgrade", b"websocket"),
        (b"x-a", b"1"),
        (b"connection", b"upgrade"),
    ]
    assert response_fields(headers) == [(b"x-a", b"1")]


def test_error_pages_are_small_html() -> None:
    page = error_page(504)
    assert b"504 Gateway Timeout" in page and len(page) < 400
    assert b"<html>" in page
