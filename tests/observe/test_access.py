"""The access log line and the trace field: their format, and that no input can forge a line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.observe.access import access_line, safe_text
from frontdesk.observe.journey import trace_value


def test_access_line_format() -> None:
    line = access_line("127.0.0.1", "GET", b"/path?q", "1.1", 200, 1234, 0.00123, "abc")
    assert line == '127.0.0.1 - "GET /path?q HTTP/1.1" 200 1234 0.0012s rid=abc'


def test_access_line_unknowns_are_dashes() -> None:
    line = access_line(None, "POST", "/", "1.0", 0, 0, 1.5, None)
    assert line == '- - "POST / HTTP/1.0" - 0 1.5000s rid=-'


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"/plain?a=1&b=2", "/plain?a=1&b=2"),
        (b'/a"b', "/a\\x22b"),
        (b"/a\\b", "/a\\x5cb"),
        (b"/caf\xc3\xa9", "/caf\\xc3\\xa9"),
        (b"/\x1b[31m", "/\\x1b[31m"),
    ],
)
def test_targets_are_escaped(raw: bytes, text: str) -> None:
    assert safe_text(raw) == text


@given(st.binary(max_size=64))
def test_no_target_can_split_or_forge_a_line(raw: bytes) -> None:
    line = access_line("1.2.3.4", "GET", raw, "1.1", 200, 1, 0.0, None)
    assert line.isascii() and line.isprintable()
    quoted = line.split(' "', 1)[1].rsplit('" ', 1)[0]
    assert '"' not in quoted  # the request line is one quoted field, whatever the target


def test_trace_value_quotes_what_is_not_a_token() -> None:
    assert trace_value("app", 12, "asgi", "pkg.mod:app", "app#1") == (
        b'app; pid=12; interface=asgi; app="pkg.mod:app"; worker=app#1'
    )
    assert trace_value("app", 12, "wsgi", None, None) == b"app; pid=12; interface=wsgi"
    assert trace_value("app", 1, "wsgi", 'we"ird\\app\n', "a b") == (
        b'app; pid=1; interface=wsgi; app="we\\"ird\\\\app?"; worker="a b"'
    )
