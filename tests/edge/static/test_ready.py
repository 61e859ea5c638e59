"""Ready answers: a file's plain 200 kept while its cache entry is valid, and what bypasses it."""

from __future__ import annotations

import os

from frontdesk.edge.static import FileCache, StaticFiles
from frontdesk.interfaces.proxy import TrustedProxies

from .support import APP_JS, HELLO, FakeClock, Tree, raw_request, static_server

BIG = bytes(range(256)) * 100  # 25,600 bytes: sent from the descriptor, not kept in memory


def _files(tree: Tree, clock: FakeClock, **kw: object) -> StaticFiles:
    cache = FileCache(valid=1.0, clock=clock)
    return StaticFiles("/static/", str(tree.root), alias=False, file_cache=cache, **kw)  # type: ignore[arg-type]


def test_repeated_gets_and_heads_are_answered_ready_and_alike(tree: Tree) -> None:
    files = _files(tree, FakeClock())
    with static_server(files) as server:
        first = raw_request(server.port, b"/static/hello.txt")
        again = raw_request(server.port, b"/static/hello.txt")
        head = raw_request(server.port, b"/static/hello.txt", method=b"HEAD")
        assert files.ready_answers == 2
    assert first.body == again.body == HELLO
    skip = {"date", "server-timing"}
    assert [h for h in again.headers if h[0] not in skip] == [
        h for h in first.headers if h[0] not in skip
    ]
    assert [h for h in head.headers if h[0] not in skip] == [
        h for h in first.headers if h[0] not in skip
    ]
    assert head.body == b"" and head.header("content-length") == str(len(HELLO))


def test_conditions_ranges_and_traces_take_the_full_way(tree: Tree) -> None:
    files = _files(tree, FakeClock(), trusted=TrustedProxies(trust_all=True))
    with static_server(files) as server:
        etag = raw_request(server.port, b"/static/hello.txt").header("etag") or ""
        assert (
            raw_request(
                server.port, b"/static/hello.txt", [(b"if-none-match", etag.encode())]
            ).status
            == 304
        )
        ranged = raw_request(server.port, b"/static/hello.txt", [(b"range", b"bytes=0-4")])
        assert ranged.status == 206 and ranged.body == HELLO[:5]
        traced = raw_request(server.port, b"/static/hello.txt", [(b"frontdesk-trace", b"1")])
        assert traced.header("frontdesk-trace") is not None
        assert raw_request(server.port, b"/static/hello.txt", method=b"POST").status == 405
        assert files.ready_answers == 0


def test_a_file_with_siblings_is_ready_only_without_accept_encoding(tree: Tree) -> None:
    files = _files(tree, FakeClock())
    with static_server(files) as server:
        plain = raw_request(server.port, b"/static/app.js")
        assert raw_request(server.port, b"/static/app.js").body == APP_JS
        assert files.ready_answers == 1
        brotli = raw_request(server.port, b"/static/app.js", [(b"accept-encoding", b"br")])
        assert files.ready_answers == 1
    assert plain.header("vary") == "Accept-Encoding" and plain.body == APP_JS
    assert brotli.header("content-encoding") == "br"


def test_a_changed_file_is_served_anew_once_its_entry_expires(tree: Tree) -> None:
    clock = FakeClock()
    files = _files(tree, clock)
    path = tree.static / "hello.txt"
    with static_server(files) as server:
        old = raw_request(server.port, b"/static/hello.txt")
        path.write_bytes(b"a new text, longer than before\n")
        os.utime(path, (1_700_000_000, 1_700_000_000))
        # Within the entry's validity the old answer stands, as for every cached lookup.
        assert raw_request(server.port, b"/static/hello.txt").body == HELLO
        clock.advance(1.0)
        new = raw_request(server.port, b"/static/hello.txt")
        assert raw_request(server.port, b"/static/hello.txt").body == new.body
        assert files.ready_answers == 2
    assert new.body == b"a new text, longer than before\n"
    assert new.header("etag") != old.header("etag")
    assert new.header("last-modified") == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_a_large_file_is_ready_with_its_fields_and_sent_from_its_descriptor(tree: Tree) -> None:
    (tree.static / "big.bin").write_bytes(BIG)
    files = _files(tree, FakeClock())
    with static_server(files) as server:
        for _ in range(3):
            answer = raw_request(server.port, b"/static/big.bin")
            assert answer.status == 200 and answer.body == BIG
        head = raw_request(server.port, b"/static/big.bin", method=b"HEAD")
        assert files.ready_answers == 3
    assert head.header("content-length") == str(len(BIG)) and head.body == b""
    assert files.cache.open_descriptors == 0  # closed with the route


def test_no_ready_answers_without_a_cache(tree: Tree) -> None:
    cache = FileCache(max_entries=0)
    files = StaticFiles("/static/", str(tree.root), alias=False, file_cache=cache)
    with static_server(files) as server:
        for _ in range(3):
            assert raw_request(server.port, b"/static/hello.txt").body == HELLO
    assert files.ready_answers == 0
