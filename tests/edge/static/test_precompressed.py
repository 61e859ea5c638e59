"""Precompressed siblings (``.br``, ``.gz``) chosen by Accept-Encoding."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import brotli
import pytest

from frontdesk.edge.static import StaticFiles
from frontdesk.edge.static.encoding import choose_coding, parse_accept_encoding
from tests.support.threaded import ThreadedServer

from .support import APP_JS, HELLO, Answer, Tree, raw_request, static_server

BOTH = ("br", "gzip")


@pytest.mark.parametrize(
    ("accept", "available", "expected"),
    [
        (None, BOTH, None),
        (b"", BOTH, None),
        (b"gzip, deflate, br", BOTH, "br"),
        (b"gzip", BOTH, "gzip"),
        (b"GZIP", BOTH, "gzip"),
        (b"x-gzip", BOTH, "gzip"),
        (b"br", ("gzip",), None),
        (b"gzip;q=1, br;q=0.5", BOTH, "gzip"),
        (b"gzip;q=0.5, br;q=0.5", BOTH, "br"),  # tie: the smaller coding
        (b"br;q=0, gzip", BOTH, "gzip"),
        (b"br;q=0, gzip;q=0", BOTH, None),
        (b"*", BOTH, "br"),
        (b"*;q=0.3, br;q=0", BOTH, "gzip"),
        (b"identity", BOTH, None),
        (b"identity;q=1, gzip;q=0.5", BOTH, None),  # identity weighs more
        (b"identity;q=0, gzip;q=0.1", BOTH, "gzip"),
        (b"*;q=0, gzip;q=0.1", BOTH, "gzip"),
        (b"gzip;q=2", BOTH, None),  # a malformed q-value drops the member
        (b"gzip;q=0.0001", BOTH, None),
        (b"br ; q=0.9 , gzip", BOTH, "gzip"),
        (b"deflate, zstd", BOTH, None),
    ],
)
def test_choose_coding(accept: bytes | None, available: tuple[str, ...], expected: str) -> None:
    assert choose_coding(accept, available) == expected


def test_parse_accept_encoding() -> None:
    assert parse_accept_encoding(b"gzip;q=0.5, br, *;q=0") == {"gzip": 0.5, "br": 1.0, "*": 0.0}


@pytest.fixture
def server(tree: Tree, loop_kind: str) -> Iterator[ThreadedServer]:
    with static_server(StaticFiles("/static/", str(tree.root)), loop_kind) as server:
        yield server


def get(
    server: ThreadedServer,
    accept: bytes | None,
    *extra: tuple[bytes, bytes],
    method: bytes = b"GET",
) -> Answer:
    headers = [(b"accept-encoding", accept)] if accept is not None else []
    return raw_request(server.port, b"/static/app.js", [*headers, *extra], method=method)


def test_each_representation_decodes_to_the_file(server: ThreadedServer) -> None:
    br = get(server, b"gzip, br")
    assert br.header("content-encoding") == "br"
    assert brotli.decompress(br.body) == APP_JS
    gz = get(server, b"gzip")
    assert gz.header("content-encoding") == "gzip"
    assert gzip.decompress(gz.body) == APP_JS
    plain = get(server, None)
    assert plain.header("content-encoding") is None
    assert plain.body == APP_JS
    for answer in (br, gz, plain):
        assert answer.status == 200
        assert answer.header("content-type") == "text/javascript; charset=utf-8"
        assert answer.all("vary") == ["Accept-Encoding"]
    # One ETag per representation, so caches and If-Range never confuse them.
    assert len({br.header("etag"), gz.header("etag"), plain.header("etag")}) == 3
    assert int(br.header("content-length") or 0) < len(APP_JS)


def test_head_reports_the_compressed_length(server: ThreadedServer, tree: Tree) -> None:
    head = get(server, b"br", method=b"HEAD")
    assert head.header("content-encoding") == "br"
    assert head.header("content-length") == str((tree.static / "app.js.br").stat().st_size)


def test_304_per_representation(server: ThreadedServer) -> None:
    br_tag = get(server, b"br").header("etag")
    assert br_tag is not None
    again = get(server, b"br", (b"if-none-match", br_tag.encode()))
    assert again.status == 304
    assert again.all("vary") == ["Accept-Encoding"]
    # The br tag does not validate the gzip representation.
    assert get(server, b"gzip", (b"if-none-match", br_tag.encode())).status == 200


def test_range_requests_get_the_identity_file(server: ThreadedServer) -> None:
    plain_tag = get(server, None).header("etag")
    br_tag = get(server, b"br").header("etag")
    assert plain_tag is not None and br_tag is not None
    ranged = get(server, b"br, gzip", (b"range", b"bytes=0-5"))
    assert ranged.status == 206
    assert ranged.header("content-encoding") is None
    assert ranged.header("etag") == plain_tag
    assert ranged.body == APP_JS[:6]
    assert ranged.all("vary") == ["Accept-Encoding"]
    # A client resuming a brotli download with If-Range gets the whole file, not a splice.
    resumed = get(server, b"br", (b"range", b"bytes=10-"), (b"if-range", br_tag.encode()))
    assert resumed.status == 200 and resumed.body == APP_JS


def test_no_vary_without_siblings_and_nothing_when_disabled(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt", [(b"accept-encoding", b"br")])
        assert answer.body == HELLO and answer.header("vary") is None
    handler = StaticFiles("/static/", str(tree.root), precompressed=False)
    with static_server(handler) as server:
        answer = raw_request(server.port, b"/static/app.js", [(b"accept-encoding", b"br")])
        assert answer.body == APP_JS
        assert answer.header("content-encoding") is None and answer.header("vary") is None


def test_a_sibling_without_its_file_is_not_served(tree: Tree) -> None:
    (tree.static / "orphan.css.gz").write_bytes(gzip.compress(b"a{}"))
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/orphan.css", [(b"accept-encoding", b"gzip")])
        assert answer.status == 404
        # Asked for by its own name it is an ordinary file, without Content-Encoding.
        direct = raw_request(server.port, b"/static/orphan.css.gz", [(b"accept-encoding", b"gzip")])
        assert direct.header("content-type") == "application/gzip"
        assert direct.header("content-encoding") is None


def test_a_sibling_symlinked_out_of_the_root_is_ignored(tree: Tree) -> None:
    (tree.base / "evil.br").write_bytes(b"not what you asked for")
    (tree.static / "hello.txt.br").symlink_to(tree.base / "evil.br")
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt", [(b"accept-encoding", b"br")])
        assert answer.body == HELLO and answer.header("content-encoding") is None
