"""Path safety: decoding once, refusing every way out of the root, symlinks in and out.

The hostile paths are sent as raw bytes (an HTTP client would normalise ``..`` away before
sending) to routes in both ``root`` and ``alias`` mode, with a secret file beside the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from frontdesk.edge.static import FileCache, StaticFiles
from frontdesk.edge.static.paths import (
    MountPoint,
    PathRefused,
    decode_segment,
    encode_path,
    inside,
    split_path,
)
from frontdesk.errors import ConfigError
from tests.support.threaded import ThreadedServer

from .support import HELLO, SECRET, FakeClock, Tree, make_tree, raw_request, static_server

# (request target, expected status): 404 for names that cannot reach a file we serve, 400
# for a malformed request (bad escapes, bytes that are not UTF-8).
HOSTILE: list[tuple[bytes, int]] = [
    (b"/static/../secret.txt", 404),
    (b"/static/../../secret.txt", 404),
    (b"/static/%2e%2e/%2e%2e/secret.txt", 404),
    (b"/static/%2E%2E/%2E%2E/secret.txt", 404),
    (b"/static/.%2e/.%2e/secret.txt", 404),
    (b"/static/%2e./%2e./secret.txt", 404),
    (b"/static/..%2f..%2fsecret.txt", 404),
    (b"/static/..%2F..%2Fsecret.txt", 404),
    (b"/static/%2e%2e%2f%2e%2e%2fsecret.txt", 404),
    (b"/static/..%5c..%5csecret.txt", 404),
    (b"/static/..\\..\\secret.txt", 404),
    (b"/static/%5c..%5c..%5csecret.txt", 404),
    (b"/static/%252e%252e/%252e%252e/secret.txt", 404),
    (b"/static/..%252f..%252fsecret.txt", 404),
    (b"/static/..%00/secret.txt", 404),
    (b"/static/hello.txt%00.png", 404),
    (b"/static/%00", 404),
    (b"/static/%0a..%0d/secret.txt", 404),
    (b"/static/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt", 400),
    (b"/static/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/secret.txt", 400),
    (b"/static/..%c0%af..%c0%afsecret.txt", 400),
    (b"/static/%u002e%u002e/%u002e%u002e/secret.txt", 400),
    (b"/static/%2%2e/secret.txt", 400),
    (b"/static/./../../secret.txt", 404),
    (b"/static//../../secret.txt", 404),
    (b"/static/sub/../../../secret.txt", 404),
    (b"/static/sub/..%2f..%2f..%2fsecret.txt", 404),
    (b"/static/%2fsecret.txt", 404),
    (b"/static/%2F..%2F..%2Fsecret.txt", 404),
    (b"/static/..;/..;/secret.txt", 404),
    (b"/static/%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/secret.txt", 404),
    (b"/static/..", 404),
    (b"/static/%2e%2e", 404),
    (b"/static/..%2f", 404),
    (b"/static%2f..%2f..%2fsecret.txt", 404),
    (b"/static/link-out", 404),
    (b"/static/link-out-relative", 404),
    (b"/static/dir-out/secret.txt", 404),
    (b"/static/dir-out/", 404),
    (b"http://test/static/../../secret.txt", 404),
]


@pytest.fixture(scope="module", params=["root", "alias"])
def hostile_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedServer]:
    tree = make_tree(tmp_path_factory.mktemp("hostile"))
    if request.param == "root":
        handler = StaticFiles("/static/", str(tree.root))
    else:
        handler = StaticFiles("/static/", str(tree.static), alias=True)
    with static_server(handler) as server:
        yield server


def test_hostile_list_is_long_enough() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize(("target", "status"), HOSTILE, ids=[t.decode() for t, _ in HOSTILE])
def test_hostile_path_is_refused(
    hostile_server: ThreadedServer, target: bytes, status: int
) -> None:
    answer = raw_request(hostile_server.port, target)
    assert answer.status == status, answer.raw[:200]
    assert SECRET not in answer.raw
    assert b"root-level file" not in answer.raw


def test_the_same_server_serves_ordinary_and_odd_but_valid_names(
    hostile_server: ThreadedServer,
) -> None:
    """Refusing hostile paths must not refuse names that are merely unusual."""
    port = hostile_server.port
    assert raw_request(port, b"/static/hello.txt").body == HELLO
    assert raw_request(port, b"/static/a%20b.txt").body == b"space\n"
    assert raw_request(port, b"/static/%E2%82%AC.txt").body == b"euro\n"
    assert raw_request(port, b"/static/.../dots.txt").body == b"three dots are a name\n"
    assert raw_request(port, b"/static//hello.txt").body == HELLO  # slashes merged
    assert raw_request(port, b"/static/hell%6f.txt").body == HELLO
    assert raw_request(port, b"/static/link-in").body == HELLO  # a symlink inside the root


def test_symlink_out_of_the_root_is_served_only_when_allowed(tree: Tree) -> None:
    handler = StaticFiles("/static/", str(tree.root), follow_symlinks_outside=True)
    with static_server(handler) as server:
        assert raw_request(server.port, b"/static/link-out").body == SECRET
        assert raw_request(server.port, b"/static/dir-out/secret.txt").body == SECRET
        # Allowing symlinks does not allow dot segments.
        assert raw_request(server.port, b"/static/../../secret.txt").status == 404


def test_symlink_to_a_directory_inside_the_root(tree: Tree) -> None:
    # dir-up points at www: inside the root of a root route, outside the alias directory
    # (www/static) of an alias route. What counts is where the path resolves.
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        assert raw_request(server.port, b"/static/dir-up/static/hello.txt").body == HELLO
        assert raw_request(server.port, b"/static/dir-up/secret.txt").status == 200
    with static_server(StaticFiles("/static/", str(tree.static), alias=True)) as server:
        assert raw_request(server.port, b"/static/dir-up/static/hello.txt").body == HELLO
        assert raw_request(server.port, b"/static/dir-up/secret.txt").status == 404


def test_root_behind_a_symlink_follows_a_deploy_swap(tmp_path: Path) -> None:
    """``current -> releases/1`` swapped to ``releases/2``: the new release is served (after
    the cache's validity) and nothing is refused as "outside" the old resolution."""
    for release in ("1", "2"):
        directory = tmp_path / "releases" / release
        directory.mkdir(parents=True)
        (directory / "version.txt").write_text(f"release {release}\n")
    (tmp_path / "releases" / "2" / "new.txt").write_text("only in 2\n")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases" / "1")
    clock = FakeClock()
    handler = StaticFiles("/", str(current), file_cache=FileCache(valid=1.0, clock=clock))
    with static_server(handler) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/version.txt").text == "release 1\n"
        swap = tmp_path / "current.new"
        swap.symlink_to(tmp_path / "releases" / "2")
        os.replace(swap, current)
        clock.advance(1.5)
        assert client.get("/version.txt").text == "release 2\n"
        assert client.get("/new.txt").text == "only in 2\n"


def test_fifo_is_not_served_and_does_not_block(tree: Tree) -> None:
    os.mkfifo(tree.static / "pipe")
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        assert raw_request(server.port, b"/static/pipe").status == 404
        assert raw_request(server.port, b"/static/hello.txt").body == HELLO


# -- units -------------------------------------------------------------------------------


def test_segments_are_decoded_exactly_once() -> None:
    assert decode_segment(b"%252e%252e") == "%2e%2e"
    assert decode_segment(b"a%20b") == "a b"
    assert decode_segment(b"%E2%82%AC") == "\u20ac"
    assert split_path(b"/a//b/") == (("a", "b"), True)
    assert split_path(b"/") == ((), True)


@pytest.mark.parametrize(
    ("segment", "status"),
    [
        (b"..", 404),
        (b".", 404),
        (b"%2e", 404),
        (b"%2E%2e", 404),
        (b"a%2fb", 404),
        (b"a%5cb", 404),
        (b"a\\b", 404),
        (b"a%00", 404),
        (b"%7f", 404),
        (b"%1b[31m", 404),
        (b"%zz", 400),
        (b"%4", 400),
        (b"%", 400),
        (b"%ff", 400),
        (b"%ed%a0%80", 400),  # a UTF-16 surrogate, which UTF-8 may not encode
    ],
)
def test_forbidden_segments(segment: bytes, status: int) -> None:
    with pytest.raises(PathRefused) as info:
        decode_segment(segment)
    assert info.value.status == status


def test_mount_matches_whole_segments() -> None:
    mount = MountPoint("/static/", "/srv")
    assert mount.matches(b"/static/")
    assert mount.matches(b"/static")
    assert mount.matches(b"/static/a/b.css")
    assert mount.matches(b"//static/a")
    assert mount.matches(b"/st%61tic/a")
    assert not mount.matches(b"/staticx/a")
    assert not mount.matches(b"/static%2fa")
    assert not mount.matches(b"/")
    assert not mount.matches(b"*")
    assert MountPoint("/", "/srv").matches(b"/anything")
    spaced = MountPoint("/my files/", "/srv")
    assert spaced.matches(b"/my%20files/a.txt")


def test_root_and_alias_map_paths_differently() -> None:
    root = MountPoint("/static/", "/srv/www", alias=False)
    alias = MountPoint("/static/", "/srv/assets", alias=True)
    assert root.locate(b"/static/a/b.css").fs_path == "/srv/www/static/a/b.css"
    assert alias.locate(b"/static/a/b.css").fs_path == "/srv/assets/a/b.css"
    assert alias.locate(b"/static/").fs_path == "/srv/assets"
    assert alias.locate(b"/static").trailing_slash is False
    with pytest.raises(PathRefused):
        alias.locate(b"/other/a.css")


def test_encoded_paths_for_location_never_start_with_two_slashes() -> None:
    assert encode_path(("evil.com", "x"), True) == b"/evil.com/x/"
    assert encode_path(("a b", "\u20ac"), True) == b"/a%20b/%E2%82%AC/"
    assert encode_path((), True) == b"/"


def test_inside() -> None:
    assert inside("/srv/www/a", "/srv/www")
    assert inside("/srv/www", "/srv/www")
    assert not inside("/srv/www2/a", "/srv/www")
    assert not inside("/srv", "/srv/www")
    assert inside("/etc", "/")


@pytest.mark.parametrize("prefix", ["static/", "/a/../b/", "/a/./b/", "/a\\b/"])
def test_bad_prefix_is_a_config_error(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        StaticFiles(prefix, str(tmp_path))
