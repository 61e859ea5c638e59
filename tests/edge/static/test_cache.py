"""The descriptor cache: validity, LRU bounds, closing on eviction, shared descriptors."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontdesk.edge.static import FileCache, StaticFiles
from frontdesk.edge.static.cache import DIRECTORY, FILE, MISSING, SPECIAL, FileView

from .support import FakeClock, Tree, raw_request, static_server


class CountingCache(FileCache):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats = 0
        self.opens = 0

    def _stat(self, path: str) -> os.stat_result:
        self.stats += 1
        return super()._stat(path)

    def _open(self, path: str) -> int:
        self.opens += 1
        return super()._open(path)


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def write(path: Path, data: bytes, mtime: int) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_kinds_and_negative_caching(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = CountingCache(valid=1.0, clock=clock)
    (tmp_path / "f").write_bytes(b"x")
    os.mkfifo(tmp_path / "p")
    assert cache.lookup(str(tmp_path / "f")).kind == FILE
    assert cache.lookup(str(tmp_path)).kind == DIRECTORY
    assert cache.lookup(str(tmp_path / "p")).kind == SPECIAL
    assert cache.lookup(str(tmp_path / "f" / "below")).kind == MISSING  # ENOTDIR
    assert cache.lookup(str(tmp_path / ("x" * 300))).kind == MISSING  # ENAMETOOLONG
    missing = str(tmp_path / "later")
    assert cache.lookup(missing).kind == MISSING
    (tmp_path / "later").write_bytes(b"now here")
    stats = cache.stats
    assert cache.lookup(missing).kind == MISSING  # remembered for `valid` seconds
    assert cache.stats == stats
    clock.advance(1.0)
    assert cache.lookup(missing).kind == FILE


def test_entry_is_revalidated_after_valid_and_replaced_on_change(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = CountingCache(valid=1.0, clock=clock)
    path = tmp_path / "f"
    write(path, b"one", 1_600_000_000)
    entry = cache.lookup(str(path))
    fd = cache.acquire(entry)
    cache.release(entry)
    assert cache.lookup(str(path)) is entry and cache.stats == 1
    clock.advance(1.0)
    assert cache.lookup(str(path)) is entry and cache.stats == 2  # checked, unchanged
    write(path, b"two", 1_600_000_000)  # same size and mtime: invisible, as for nginx
    os.utime(path, (1_600_000_001, 1_600_000_001))
    assert cache.lookup(str(path)) is entry  # still valid: not checked yet
    clock.advance(1.0)
    fresh = cache.lookup(str(path))
    assert fresh is not entry and fresh.mtime_ns != entry.mtime_ns
    assert not is_open(fd) or fd == fresh.fd  # the old descriptor was closed
    assert entry.fd == -1
    cache.close()


def test_lru_eviction_closes_descriptors_but_not_those_in_use(tmp_path: Path) -> None:
    cache = FileCache(max_entries=3, clock=FakeClock())
    entries = []
    for index in range(3):
        path = tmp_path / f"f{index}"
        path.write_bytes(b"x" * index)
        entries.append(cache.lookup(str(path)))
    fds = [cache.acquire(entry) for entry in entries]
    for entry in entries[1:]:
        cache.release(entry)  # entries[0] stays in use
    cache.lookup(str(entries[1].path))  # most recently used now: 0 is the oldest
    (tmp_path / "g").write_bytes(b"")
    (tmp_path / "h").write_bytes(b"")
    cache.lookup(str(tmp_path / "g"))  # evicts 0 (in use: stays open)
    cache.lookup(str(tmp_path / "h"))  # evicts 2 (idle: closed)
    assert len(cache) == 3
    assert is_open(fds[0]) and entries[0].fd == fds[0]
    assert entries[2].fd == -1
    assert entries[1].fd == fds[1]
    cache.release(entries[0])
    assert entries[0].fd == -1  # closed with its last release
    cache.close()
    assert entries[1].fd == -1 and len(cache) == 0


def test_no_caching_with_zero_entries(tmp_path: Path) -> None:
    cache = CountingCache(max_entries=0)
    path = tmp_path / "f"
    path.write_bytes(b"x")
    entry = cache.lookup(str(path))
    fd = cache.acquire(entry)
    assert is_open(fd)
    cache.release(entry)
    assert entry.fd == -1
    cache.lookup(str(path))
    assert cache.stats == 2 and len(cache) == 0


def test_inactive_entries_are_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = FileCache(valid=100.0, inactive=60.0, clock=clock)
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"x")
    a = cache.lookup(str(tmp_path / "a"))
    cache.acquire(a)
    cache.release(a)
    clock.advance(59)
    cache.lookup(str(tmp_path / "b"))
    clock.advance(2)
    cache.lookup(str(tmp_path / "b"))  # a unused for 61 s: dropped, its descriptor closed
    assert len(cache) == 1 and a.fd == -1


def test_file_views_share_a_descriptor_without_sharing_a_position(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    fd = os.open(path, os.O_RDONLY)
    try:
        one, two = FileView(fd), FileView(fd)
        one.seek(10)
        two.seek(50)
        assert one.read(5) == bytes(range(10, 15))
        assert two.read(5) == bytes(range(50, 55))
        assert one.read(5) == bytes(range(15, 20))
        assert one.tell() == 20 and two.seek(-1, os.SEEK_END) == 99
        assert two.read() == bytes([99])
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)


def test_bad_cache_settings() -> None:
    with pytest.raises(ValueError):
        FileCache(max_entries=-1)


# -- on the wire -------------------------------------------------------------------------


def test_changed_file_is_noticed_after_the_validity_period(tree: Tree) -> None:
    clock = FakeClock()
    cache = CountingCache(valid=1.0, clock=clock)
    path = tree.static / "hello.txt"
    write(path, b"version one\n", 1_600_000_000)
    handler = StaticFiles("/static/", str(tree.root), file_cache=cache)
    with static_server(handler) as server:
        first = raw_request(server.port, b"/static/hello.txt")
        assert first.body == b"version one\n"
        write(path, b"version two, longer\n", 1_600_000_100)
        # Within the validity period the cached descriptor and stat are used (nginx too)...
        stale = raw_request(server.port, b"/static/hello.txt")
        assert stale.header("etag") == first.header("etag")
        clock.advance(1.0)
        # ...after it, the change is seen: new body, new validators.
        fresh = raw_request(server.port, b"/static/hello.txt")
        assert fresh.body == b"version two, longer\n"
        assert fresh.header("etag") != first.header("etag")
        old_tag = first.header("etag")
        assert old_tag is not None
        assert (
            raw_request(
                server.port, b"/static/hello.txt", [(b"if-none-match", old_tag.encode())]
            ).status
            == 200
        )
        assert cache.opens == 2


def test_changed_file_is_noticed_in_real_time(tree: Tree) -> None:
    """The same with the real clock and a short validity: poll, bounded, for the change."""
    path = tree.static / "hello.txt"
    write(path, b"before\n", 1_600_000_000)
    handler = StaticFiles("/static/", str(tree.root), file_cache=FileCache(valid=0.05))
    with static_server(handler) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/static/hello.txt").content == b"before\n"
        write(path, b"after!\n", 1_600_000_500)
        deadline = time.monotonic() + 10
        body = b""
        while time.monotonic() < deadline:
            body = client.get("/static/hello.txt").content
            if body == b"after!\n":
                break
            time.sleep(0.02)
        assert body == b"after!\n"


def test_replaced_file_keeps_serving_whole_old_or_new(tree: Tree) -> None:
    """An atomic replace (rename) under a cached descriptor: the old inode is still whole."""
    clock = FakeClock()
    handler = StaticFiles("/static/", str(tree.root), file_cache=FileCache(clock=clock))
    path = tree.static / "hello.txt"
    with static_server(handler) as server:
        old = raw_request(server.port, b"/static/hello.txt").body
        replacement = tree.static / "hello.txt.tmp"
        replacement.write_bytes(b"replaced atomically\n")
        os.replace(replacement, path)
        assert raw_request(server.port, b"/static/hello.txt").body == old
        clock.advance(5)
        assert raw_request(server.port, b"/static/hello.txt").body == b"replaced atomically\n"


def test_concurrent_ranges_share_one_descriptor(tree: Tree, loop_kind: str) -> None:
    content = os.urandom(3 * 1024 * 1024)
    (tree.static / "shared.bin").write_bytes(content)
    cache = CountingCache()
    handler = StaticFiles("/static/", str(tree.root), file_cache=cache)
    spans = [(i * 100_003 % len(content), 200_000) for i in range(24)]

    def fetch(span: tuple[int, int]) -> bool:
        first, length = span
        last = min(first + length, len(content)) - 1
        answer = raw_request(
            server.port, b"/static/shared.bin", [(b"range", b"bytes=%d-%d" % (first, last))]
        )
        return answer.status == 206 and answer.body == content[first : last + 1]

    with static_server(handler, loop_kind) as server, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, spans * 2))
        whole = raw_request(server.port, b"/static/shared.bin")
    assert all(results)
    assert whole.body == content
    assert cache.opens == 1


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc/self/fd")
def test_no_descriptor_leaks(tree: Tree, loop_kind: str) -> None:
    def files_open_under(base: Path) -> list[str]:
        found = []
        for name in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue  # closed since the listing
            if target.startswith(str(base)):
                found.append(target)
        return found

    (tree.static / "big.bin").write_bytes(b"z" * 200_000)
    handler = StaticFiles("/static/", str(tree.root))
    with static_server(handler, loop_kind) as server:
        for name in ("hello.txt", "big.bin", "sub/", "app.js", "nope", "link-out"):
            raw_request(server.port, b"/static/" + name.encode())
        raw_request(server.port, b"/static/big.bin", [(b"range", b"bytes=0-1,150000-")])
        assert files_open_under(tree.base)  # cached while the route lives
    assert handler.cache.open_descriptors == 0
    assert files_open_under(tree.base) == []
