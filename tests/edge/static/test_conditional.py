"""Validators and preconditions: ETag and Last-Modified, 304 and 412 in RFC 9110's order."""

from __future__ import annotations

import calendar
import os
import time

import pytest

from frontdesk.edge.static import StaticFiles
from frontdesk.edge.static.conditional import (
    Conditions,
    EntityTag,
    evaluate,
    if_range_holds,
    parse_etag,
    parse_etag_list,
)
from frontdesk.edge.static.httpdate import format_http_date, parse_http_date

from .support import HELLO, Tree, raw_request, static_server

NOW = 1_700_000_000
TAG = b'"abc-12"'
OLD = NOW - 3600
LM_TEXT = format_http_date(OLD)


# -- units -------------------------------------------------------------------------------


def test_http_date_formats() -> None:
    expected = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT", now=NOW) == expected
    assert parse_http_date(b"Sun Nov  6 08:49:37 1994") == expected
    assert format_http_date(expected) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    # RFC 850 years more than 50 years ahead are in the past century.
    assert parse_http_date(b"Monday, 01-Jan-80 00:00:00 GMT", now=NOW) == calendar.timegm(
        (1980, 1, 1, 0, 0, 0, 0, 0, 0)
    )


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"yesterday",
        b"Sun, 06 Nov 1994 08:49:37",
        b"sun, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 31 Feb 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 25:49:37 GMT",
        b"Sun, 6 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:37 UTC",
        b"1700000000",
    ],
)
def test_invalid_http_dates(value: bytes) -> None:
    assert parse_http_date(value) is None


def test_etag_lists() -> None:
    assert parse_etag_list(b"*") is None
    assert parse_etag_list(b' "a", W/"b" ,"c,d"') == [
        EntityTag(False, b'"a"'),
        EntityTag(True, b'"b"'),
        EntityTag(False, b'"c,d"'),
    ]
    assert parse_etag_list(b'"a", junk, "b"') == [EntityTag(False, b'"a"')]
    assert parse_etag(b'W/"x"') == EntityTag(True, b'"x"')
    assert parse_etag(b'"x", "y"') is None
    assert parse_etag(b'"x') is None


@pytest.mark.parametrize(
    ("conditions", "method", "expected"),
    [
        (Conditions(), "GET", None),
        (Conditions(if_none_match=TAG), "GET", 304),
        (Conditions(if_none_match=TAG), "HEAD", 304),
        (Conditions(if_none_match=b'W/"abc-12"'), "GET", 304),  # weak comparison
        (Conditions(if_none_match=b'"x", "abc-12"'), "GET", 304),
        (Conditions(if_none_match=b"*"), "GET", 304),
        (Conditions(if_none_match=b'"x"'), "GET", None),
        (Conditions(if_modified_since=LM_TEXT), "GET", 304),
        (Conditions(if_modified_since=format_http_date(OLD + 10)), "GET", 304),
        (Conditions(if_modified_since=format_http_date(OLD - 1)), "GET", None),
        (Conditions(if_modified_since=format_http_date(NOW + 99)), "GET", None),  # future
        (Conditions(if_modified_since=b"garbage"), "GET", None),
        # If-None-Match present: If-Modified-Since is not looked at.
        (Conditions(if_none_match=b'"x"', if_modified_since=LM_TEXT), "GET", None),
        (Conditions(if_match=TAG), "GET", None),
        (Conditions(if_match=b"*"), "GET", None),
        (Conditions(if_match=b'W/"abc-12"'), "GET", 412),  # strong comparison
        (Conditions(if_match=b'"x"'), "GET", 412),
        (Conditions(if_unmodified_since=format_http_date(OLD - 1)), "GET", 412),
        (Conditions(if_unmodified_since=LM_TEXT), "GET", None),
        # If-Match present: If-Unmodified-Since is not looked at.
        (Conditions(if_match=TAG, if_unmodified_since=format_http_date(OLD - 1)), "GET", None),
        # 412 outranks 304.
        (Conditions(if_match=b'"x"', if_none_match=TAG), "GET", 412),
    ],
)
def test_precondition_order(conditions: Conditions, method: str, expected: int | None) -> None:
    assert evaluate(conditions, method, TAG, OLD, NOW) == expected


def test_if_range_units() -> None:
    assert if_range_holds(TAG, TAG, OLD, NOW)
    assert not if_range_holds(b'W/"abc-12"', TAG, OLD, NOW)  # weak never matches
    assert not if_range_holds(b'"other"', TAG, OLD, NOW)
    assert if_range_holds(LM_TEXT, TAG, OLD, NOW)
    assert not if_range_holds(format_http_date(OLD + 1), TAG, OLD, NOW)  # exact only
    assert not if_range_holds(format_http_date(NOW), TAG, NOW, NOW)  # not strong yet
    assert not if_range_holds(b"nonsense", TAG, OLD, NOW)


# -- on the wire -------------------------------------------------------------------------


def test_validators_on_the_wire(tree: Tree) -> None:
    path = tree.static / "hello.txt"
    mtime = 1_600_000_000
    os.utime(path, (mtime, mtime))
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt")
        stat = path.stat()
        assert answer.header("etag") == f'"{stat.st_mtime_ns:x}-{len(HELLO):x}"'
        assert answer.header("last-modified") == format_http_date(mtime).decode()


def test_last_modified_is_never_in_the_future(tree: Tree) -> None:
    path = tree.static / "hello.txt"
    future = int(time.time()) + 86400 * 365
    os.utime(path, (future, future))
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        header = raw_request(server.port, b"/static/hello.txt").header("last-modified")
        assert header is not None
        stamp = parse_http_date(header.encode())
        assert stamp is not None and stamp <= time.time() + 1


def test_304_and_412_on_the_wire(tree: Tree) -> None:
    os.utime(tree.static / "hello.txt", (1_600_000_000, 1_600_000_000))
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        port = server.port
        first = raw_request(port, b"/static/hello.txt")
        etag = first.header("etag")
        last_modified = first.header("last-modified")
        assert etag is not None and last_modified is not None
        cases: list[tuple[list[tuple[bytes, bytes]], int]] = [
            ([(b"if-none-match", etag.encode())], 304),
            ([(b"if-none-match", b"W/" + etag.encode())], 304),
            ([(b"if-none-match", b'"nope", ' + etag.encode())], 304),
            ([(b"if-none-match", b'"nope"'), (b"if-none-match", etag.encode())], 304),
            ([(b"if-none-match", b"*")], 304),
            ([(b"if-none-match", b'"nope"')], 200),
            ([(b"if-modified-since", last_modified.encode())], 304),
            ([(b"if-modified-since", b"Thu, 01 Jan 1970 00:00:00 GMT")], 200),
            (
                [
                    (b"if-none-match", b'"nope"'),
                    (b"if-modified-since", last_modified.encode()),
                ],
                200,
            ),
            ([(b"if-match", b'"nope"')], 412),
            ([(b"if-match", etag.encode())], 200),
            ([(b"if-unmodified-since", b"Thu, 01 Jan 1970 00:00:00 GMT")], 412),
            ([(b"if-unmodified-since", last_modified.encode())], 200),
        ]
        for headers, status in cases:
            answer = raw_request(port, b"/static/hello.txt", headers)
            assert answer.status == status, (headers, answer.raw[:300])
            if status == 304:
                assert answer.body == b""
                assert answer.header("etag") == etag
                assert answer.header("last-modified") == last_modified
                assert answer.header("content-length") is None
            elif status == 200:
                assert answer.body == HELLO
        head = raw_request(
            port, b"/static/hello.txt", [(b"if-none-match", etag.encode())], method=b"HEAD"
        )
        assert head.status == 304
