"""Methods, directories and index files, errors, MIME types and per-route fields."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import httpx
import pytest

from frontdesk.edge.static import FileCache, StaticFiles
from frontdesk.edge.static.mime import content_type
from frontdesk.errors import ConfigError

from .support import HELLO, Tree, raw_request, static_server


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"])
def test_other_methods_get_405_with_allow(tree: Tree, method: bytes) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt", method=method)
        assert answer.status == 405
        assert answer.header("allow") == "GET, HEAD"
        # Also for a path that does not exist: the method is checked first.
        assert raw_request(server.port, b"/static/nope", method=method).status == 405


def test_head_has_the_get_fields_and_no_body(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        get = raw_request(server.port, b"/static/hello.txt")
        head = raw_request(server.port, b"/static/hello.txt", method=b"HEAD")
        assert head.status == 200 and head.body == b""
        skip = {"date", "server-timing"}  # the clock and the edge's own time differ
        assert [h for h in head.headers if h[0] not in skip] == [
            h for h in get.headers if h[0] not in skip
        ]
        assert head.header("content-length") == str(len(HELLO))


def test_directory_redirects_to_its_slash_form_keeping_the_query(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/sub?a=1&b=%20")
        assert answer.status == 301
        assert answer.header("location") == "/static/sub/?a=1&b=%20"
        # Rebuilt from the decoded path: a root mount cannot be turned into an open redirect.
        (tree.root / "evil.com").mkdir()
        with static_server(StaticFiles("/", str(tree.root))) as root_server:
            answer = raw_request(root_server.port, b"//evil.com")
            assert answer.status == 301
            assert answer.header("location") == "/evil.com/"
        assert raw_request(server.port, b"/static").header("location") == "/static/"


def test_index_file_and_directory_without_one(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/sub/")
        assert answer.status == 200
        assert answer.body == b"<h1>sub</h1>\n"
        assert answer.header("content-type") == "text/html; charset=utf-8"
        assert raw_request(server.port, b"/static/empty/").status == 403  # no listing


def test_index_names_are_tried_in_order(tree: Tree) -> None:
    (tree.static / "sub" / "default.htm").write_bytes(b"default\n")
    (tree.static / "empty" / "index.html").mkdir()  # a directory is not an index file
    (tree.static / "empty" / "default.htm").write_bytes(b"fallback\n")
    handler = StaticFiles("/static/", str(tree.root), index=("default.htm", "index.html"))
    with static_server(handler) as server:
        assert raw_request(server.port, b"/static/sub/").body == b"default\n"
        assert raw_request(server.port, b"/static/empty/").body == b"fallback\n"


def test_missing_and_file_with_trailing_slash_are_404(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        assert raw_request(server.port, b"/static/nope.txt").status == 404
        assert raw_request(server.port, b"/static/hello.txt/").status == 404
        assert raw_request(server.port, b"/static/hello.txt/x").status == 404
        assert raw_request(server.port, b"/elsewhere/hello.txt").status == 404


def test_alias_replaces_the_prefix(tree: Tree) -> None:
    with static_server(StaticFiles("/assets/", str(tree.static), alias=True)) as server:
        assert raw_request(server.port, b"/assets/hello.txt").body == HELLO
        assert raw_request(server.port, b"/assets/sub/").status == 200
        assert raw_request(server.port, b"/assets").header("location") == "/assets/"
        assert raw_request(server.port, b"/static/hello.txt").status == 404


class DenyingCache(FileCache):
    """EACCES from open() for some file names, from stat() below some directories."""

    def __init__(self, deny_open: set[str], deny_below: set[str]) -> None:
        super().__init__()
        self.deny_open = deny_open
        self.deny_below = deny_below

    def _open(self, path: str) -> int:
        if os.path.basename(path) in self.deny_open:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return super()._open(path)

    def _stat(self, path: str) -> os.stat_result:
        if any(part in self.deny_below for part in Path(path).parts[:-1]):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return super()._stat(path)


def test_unreadable_files_and_directories_are_403(tree: Tree) -> None:
    cache = DenyingCache({"hello.txt", "index.html", "app.js.br"}, {"sub"})
    (tree.static / "empty" / "index.html").write_bytes(b"x")
    handler = StaticFiles("/static/", str(tree.root), file_cache=cache)
    with static_server(handler) as server:
        assert raw_request(server.port, b"/static/hello.txt").status == 403
        assert raw_request(server.port, b"/static/sub/anything").status == 403
        assert raw_request(server.port, b"/static/empty/").status == 403  # unreadable index
        # An unreadable precompressed sibling is skipped, not an error.
        answer = raw_request(server.port, b"/static/app.js", [(b"accept-encoding", b"br")])
        assert answer.status == 200 and answer.header("content-encoding") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_403_for_real(tree: Tree) -> None:  # pragma: no cover - non-root
    (tree.static / "hello.txt").chmod(0)
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        assert raw_request(server.port, b"/static/hello.txt").status == 403


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.wasm", "application/wasm"),
        ("a.webp", "image/webp"),
        ("a.avif", "image/avif"),
        ("a.woff2", "font/woff2"),
        ("a.svg", "image/svg+xml"),
        ("a.PNG", "image/png"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.tar.gz", "application/gzip"),
        ("a.webmanifest", "application/manifest+json"),
        ("a.doc", "application/msword"),  # from the stdlib's table
        ("a.unknownext", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ],
)
def test_mime_types(name: str, expected: str) -> None:
    assert content_type(name) == expected.encode()


def test_mime_type_on_the_wire(tree: Tree) -> None:
    (tree.static / "m.wasm").write_bytes(b"\0asm")
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/m.wasm")
        assert answer.header("content-type") == "application/wasm"
        assert answer.header("x-content-type-options") == "nosniff"


def test_cache_control_and_nosniff_are_per_route(tree: Tree) -> None:
    handler = StaticFiles(
        "/static/", str(tree.root), cache_control="public, max-age=3600", nosniff=False
    )
    with static_server(handler) as server:
        ok = raw_request(server.port, b"/static/hello.txt")
        assert ok.header("cache-control") == "public, max-age=3600"
        assert ok.header("x-content-type-options") is None
        etag = ok.header("etag")
        assert etag is not None
        not_modified = raw_request(
            server.port, b"/static/hello.txt", [(b"if-none-match", etag.encode())]
        )
        assert not_modified.status == 304
        assert not_modified.header("cache-control") == "public, max-age=3600"
        partial = raw_request(server.port, b"/static/hello.txt", [(b"range", b"bytes=0-1")])
        assert partial.header("cache-control") == "public, max-age=3600"
        assert raw_request(server.port, b"/static/nope").header("cache-control") is None


def test_keep_alive_connection_serves_many_requests(tree: Tree) -> None:
    handler = StaticFiles("/static/", str(tree.root))
    with static_server(handler) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(20):
            assert client.get("/static/hello.txt").content == HELLO
            assert client.get("/static/nope").status_code == 404
            assert client.head("/static/sub/").status_code == 200


def test_configuration_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        StaticFiles("/s/", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="index"):
        StaticFiles("/s/", str(tmp_path), index=("../x",))
    with pytest.raises(ConfigError, match="cache_control"):
        StaticFiles("/s/", str(tmp_path), cache_control="max-age=1\r\nx: y")
    with pytest.raises(ConfigError, match="max_ranges"):
        StaticFiles("/s/", str(tmp_path), max_ranges=0)
