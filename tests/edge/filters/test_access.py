"""Allow/deny by CIDR, first match wins, over IPv4 and IPv6 loopback."""

from __future__ import annotations

import httpx
import pytest

from frontdesk.edge.filters import AccessFilter
from frontdesk.errors import ConfigError
from tests.edge.filters.support import Scripted, ipv6_available, serve, text

needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback here")


def allowed(rules: list[tuple[str, str]], host: str | None) -> bool:
    access = AccessFilter(Scripted(text), rules)
    return access.allowed((host, 1234) if host is not None else None)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.1.2.3", True),
        ("10.0.0.1", False),  # denied by the narrower rule listed first
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("2001:db8::1", True),
        ("2001:db8:0:1::1", False),
        ("::ffff:10.1.2.3", True),  # IPv4-mapped: matched as IPv4
        ("fe80::1%eth0", False),
        (None, False),
    ],
)
def test_first_match_wins(host: str | None, expected: bool) -> None:
    rules = [
        ("deny", "10.0.0.0/24"),
        ("allow", "10.0.0.0/8"),
        ("allow", "192.0.2.7"),
        ("deny", "2001:db8:0:1::/64"),
        ("allow", "2001:db8::/32"),
        ("deny", "all"),
    ]
    assert allowed(rules, host) is expected


def test_no_match_allows_and_unix_clients_have_their_rule() -> None:
    assert allowed([("deny", "10.0.0.0/8")], "127.0.0.1")
    assert allowed([("deny", "10.0.0.0/8")], None)
    assert not allowed([("deny", "unix:")], None)
    assert allowed([("deny", "unix:")], "127.0.0.1")


@pytest.mark.parametrize(
    "rule", [("deny", "10.0.0.0/33"), ("deny", "nonsense"), ("block", "all"), ("allow", "")]
)
def test_bad_rules_are_config_errors(rule: tuple[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        AccessFilter(Scripted(text), [rule])
    assert "\n" not in str(info.value)


def test_ipv4_client_denied_and_allowed() -> None:
    denied = AccessFilter(Scripted(text), [("allow", "10.0.0.0/8"), ("deny", "all")])
    with serve(denied) as server:
        response = httpx.get(server.url + "/")
        assert response.status_code == 403
    allowed_ = AccessFilter(Scripted(text), [("allow", "127.0.0.0/8"), ("deny", "all")])
    with serve(allowed_) as server:
        assert httpx.get(server.url + "/").text == "ok"


@needs_ipv6
def test_ipv6_client_denied_and_allowed() -> None:
    denied = AccessFilter(Scripted(text), [("deny", "::1/128"), ("allow", "all")])
    with serve(denied, host="::1") as server:
        assert httpx.get(server.url + "/").status_code == 403
    allowed_ = AccessFilter(Scripted(text), [("deny", "127.0.0.1"), ("allow", "::1")])
    with serve(allowed_, host="::1") as server:
        assert httpx.get(server.url + "/").status_code == 200
