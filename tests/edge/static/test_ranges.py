"""Range requests: one range, several (multipart/byteranges), 416, If-Range, abuse."""

from __future__ import annotations

import email.parser
import email.policy
import os
import random
from collections.abc import Iterator

import pytest

from frontdesk.edge.static import StaticFiles
from frontdesk.edge.static.ranges import ByteRange, multipart, parse_range
from tests.support.threaded import ThreadedServer

from .support import Tree, check_part, parse_byteranges, raw_request, static_server

SIZE = 1000
# Incompressible and position-dependent, so a misplaced byte shows.
CONTENT = random.Random(7).randbytes(200_000)


def spans(value: bytes, size: int = SIZE) -> list[tuple[int, int]] | None:
    result = parse_range(value, size)
    return None if result is None else [(r.first, r.last) for r in result]


# -- units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"bytes=0-0", [(0, 0)]),
        (b"bytes=0-499", [(0, 499)]),
        (b"bytes=500-", [(500, 999)]),
        (b"bytes=-200", [(800, 999)]),
        (b"bytes=-5000", [(0, 999)]),
        (b"bytes=900-5000", [(900, 999)]),
        (b"BYTES=1-2", [(1, 2)]),
        (b"bytes= 1-2 , 500-600 ", [(1, 2), (500, 600)]),
        (b"bytes=1-2,,500-600", [(1, 2), (500, 600)]),
        (b"bytes=500-600,1-2", [(1, 2), (500, 600)]),  # sorted
        (b"bytes=0-10,5-20", [(0, 20)]),  # overlapping: merged
        (b"bytes=0-10,50-60", [(0, 60)]),  # a gap smaller than a part head: merged
        (b"bytes=0-,0-,0-,0-", [(0, 999)]),
        (b"bytes=0-1,1000-2000", [(0, 1)]),  # the unsatisfiable one dropped
        (b"bytes=1000-", []),
        (b"bytes=1000-2000,5000-", []),
        (b"bytes=-0", []),
        (b"bytes=99999999999999999999999999-", []),
        (b"bytes=0-99999999999999999999999999", [(0, 999)]),
        (b"bytes=5-2", None),  # last before first: invalid, ignored
        (b"bytes=a-b", None),
        (b"bytes=1-2-3", None),
        (b"bytes=+1-2", None),
        (b"bytes=1", None),
        (b"bytes=", None),
        (b"items=0-5", None),
        (b"0-5", None),
        (b"bytes=\xff-1", None),
    ],
)
def test_parse_range(value: bytes, expected: list[tuple[int, int]] | None) -> None:
    assert spans(value) == expected


def test_too_many_ranges_are_ignored_and_empty_files_never_ranged() -> None:
    many = b"bytes=" + b",".join(b"%d-%d" % (i * 200, i * 200) for i in range(101))
    assert parse_range(many, 10**6, max_ranges=100) is None
    assert parse_range(many, 10**6, max_ranges=200) is not None
    assert parse_range(b"bytes=0-0", 0) is None
    assert parse_range(b"bytes=-1", 0) is None


def test_multipart_layout_length_is_exact() -> None:
    ranges = (ByteRange(0, 9), ByteRange(500, 599))
    layout = multipart(ranges, SIZE, b"text/plain")
    body = b"".join(head + b"x" * r.length for head, r in layout.parts) + layout.tail
    assert len(body) == layout.length
    assert layout.content_type.startswith(b"multipart/byteranges; boundary=")


# -- on the wire, on both loops ----------------------------------------------------------


@pytest.fixture
def ranged(tree: Tree, loop_kind: str) -> Iterator[ThreadedServer]:
    (tree.static / "data.bin").write_bytes(CONTENT)
    (tree.static / "notes.txt").write_bytes(b"0123456789" * 30)
    (tree.static / "empty.txt").write_bytes(b"")
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        yield server


def test_single_ranges(ranged: ThreadedServer) -> None:
    size = len(CONTENT)
    for spec, first, last in [
        (b"bytes=0-0", 0, 0),
        (b"bytes=10-20", 10, 20),
        (b"bytes=100000-", 100000, size - 1),  # sent by sendfile (large)
        (b"bytes=-300", size - 300, size - 1),
        (b"bytes=199990-300000", 199990, size - 1),
        (b"bytes=0-", 0, size - 1),
    ]:
        answer = raw_request(ranged.port, b"/static/data.bin", [(b"range", spec)])
        assert answer.status == 206, spec
        assert answer.header("content-range") == f"bytes {first}-{last}/{size}"
        assert answer.header("content-type") == "application/octet-stream"
        assert answer.body == CONTENT[first : last + 1]


def test_several_ranges_are_multipart(ranged: ThreadedServer) -> None:
    spec = b"bytes=0-99, 1000-1999, 50000-120000, -10"
    answer = raw_request(ranged.port, b"/static/data.bin", [(b"range", spec)])
    assert answer.status == 206
    content_type = answer.header("content-type")
    assert content_type is not None
    parts = parse_byteranges(answer.body, content_type)
    assert [check_part(part, CONTENT) for part in parts] == [
        (0, 99),
        (1000, 1999),
        (50000, 120000),
        (len(CONTENT) - 10, len(CONTENT) - 1),
    ]
    assert all(part.content_type == "application/octet-stream" for part in parts)
    assert answer.header("content-range") is None


def test_multipart_reads_with_the_stdlib_parser(ranged: ThreadedServer) -> None:
    answer = raw_request(ranged.port, b"/static/notes.txt", [(b"range", b"bytes=0-3,200-203")])
    content_type = answer.header("content-type")
    assert content_type is not None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"content-type: " + content_type.encode() + b"\r\n\r\n" + answer.body
    )
    parts = list(message.iter_parts())
    assert [p["content-range"] for p in parts] == ["bytes 0-3/300", "bytes 200-203/300"]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/plain"]
    assert [p.get_payload() for p in parts] == ["0123", "0123"]


def test_unsatisfiable_is_416(ranged: ThreadedServer) -> None:
    answer = raw_request(ranged.port, b"/static/data.bin", [(b"range", b"bytes=300000-")])
    assert answer.status == 416
    assert answer.header("content-range") == f"bytes */{len(CONTENT)}"
    assert answer.header("etag") is not None


def test_ignored_ranges_are_200(ranged: ThreadedServer) -> None:
    port = ranged.port
    for headers in (
        [(b"range", b"bytes=5-2")],
        [(b"range", b"lines=1-2")],
        [(b"range", b"bytes=0-1"), (b"range", b"bytes=2-3")],
        [(b"range", b"bytes=" + b",".join(b"%d-%d" % (i * 200, i * 200) for i in range(101)))],
    ):
        answer = raw_request(port, b"/static/notes.txt", headers)
        assert answer.status == 200, headers
        assert answer.header("accept-ranges") == "bytes"
        assert len(answer.body) == 300
    # Range on HEAD (only GET has range semantics) and on an empty file.
    head = raw_request(port, b"/static/notes.txt", [(b"range", b"bytes=0-1")], method=b"HEAD")
    assert head.status == 200 and head.header("content-length") == "300"
    empty = raw_request(port, b"/static/empty.txt", [(b"range", b"bytes=0-1")])
    assert empty.status == 200 and empty.body == b""


def test_overlapping_ranges_coalesce_to_one_part(ranged: ThreadedServer) -> None:
    answer = raw_request(
        ranged.port, b"/static/data.bin", [(b"range", b"bytes=0-,0-,0-,0-,100-200")]
    )
    assert answer.status == 206
    assert answer.header("content-range") == f"bytes 0-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert answer.body == CONTENT


def test_if_range(ranged: ThreadedServer, tree: Tree) -> None:
    old = 1_600_000_000
    os.utime(tree.static / "notes.txt", (old, old))
    port = ranged.port
    full = raw_request(port, b"/static/notes.txt")
    etag, last_modified = full.header("etag"), full.header("last-modified")
    assert etag is not None and last_modified is not None
    for if_range, status in [
        (etag.encode(), 206),
        (b'"stale"', 200),
        (b"W/" + etag.encode(), 200),  # a weak tag never matches
        (last_modified.encode(), 206),
        (b"Thu, 01 Jan 1970 00:00:00 GMT", 200),
        (b"garbage", 200),
    ]:
        answer = raw_request(
            port, b"/static/notes.txt", [(b"range", b"bytes=0-4"), (b"if-range", if_range)]
        )
        assert answer.status == status, if_range
        assert answer.body == (b"01234" if status == 206 else b"0123456789" * 30)
