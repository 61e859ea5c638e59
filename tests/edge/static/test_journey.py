"""Static answers carry the edge's Server-Timing entry, and a trace for trusted peers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import httpx
import pytest

from frontdesk.edge.static import StaticFiles
from frontdesk.interfaces.proxy import TrustedProxies

from .support import APP_JS, HELLO, Tree, raw_request, static_server

LOOPBACK = TrustedProxies.from_setting(["127.0.0.1", "::1"])
_TIMING = re.compile(r"edge;dur=\d+\.\d{3}")


def _trace_params(value: str) -> dict[str, str]:
    kind, *params = value.split("; ")
    assert kind == "edge", value
    return {key: val for key, _, val in (param.partition("=") for param in params)}


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (b"/static/hello.txt", [], 200),
        (b"/static/app.js", [], 200),  # a body sent by a task, after the head
        (b"/static/hello.txt", [(b"range", b"bytes=0-1")], 206),
        (b"/static/hello.txt", [(b"range", b"bytes=0-1,4-5")], 206),
        (b"/static/hello.txt", [(b"range", b"bytes=900-")], 416),
        (b"/static/hello.txt", [(b"if-none-match", b"*")], 304),
        (b"/static/hello.txt", [(b"if-match", b'"nope"')], 412),
        (b"/static/missing.txt", [], 404),
        (b"/static/sub", [], 301),
        (b"/static/empty/", [], 403),
    ],
)
def test_every_answer_has_the_edge_timing(
    tree: Tree, path: bytes, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    with static_server(StaticFiles("/static/", str(tree.root), alias=False)) as server:
        answer = raw_request(server.port, path, headers)
    assert answer.status == status
    (timing,) = answer.all("server-timing")
    assert _TIMING.fullmatch(timing), timing
    assert answer.all("frontdesk-trace") == []  # not asked


def test_405_has_the_edge_timing_and_it_can_be_switched_off(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt", method=b"POST")
    assert answer.status == 405 and _TIMING.fullmatch(answer.header("server-timing") or "")
    files = StaticFiles("/static/", str(tree.root), server_timing=False)
    with static_server(files) as server:
        assert raw_request(server.port, b"/static/hello.txt").all("server-timing") == []
        assert raw_request(server.port, b"/static/nope").all("server-timing") == []


def test_a_trusted_peer_gets_the_file_served_in_the_trace(tree: Tree) -> None:
    files = StaticFiles("/static/", str(tree.root), alias=False, trusted=LOOPBACK)
    with static_server(files) as server, httpx.Client(timeout=10) as client:
        hello = client.get(f"{server.url}/static/hello.txt", headers={"frontdesk-trace": "1"})
        brotli = client.get(
            f"{server.url}/static/app.js",
            headers={"frontdesk-trace": "1", "accept-encoding": "br"},
        )
        missing = client.get(f"{server.url}/static/nope", headers={"frontdesk-trace": "1"})
        untraced = client.get(f"{server.url}/static/hello.txt")
    assert hello.content == HELLO
    assert _trace_params(hello.headers["frontdesk-trace"]) == {
        "pid": str(os.getpid()),
        "route": '"/static/"',
        "static": '"%s"' % (tree.root / "static" / "hello.txt"),
    }
    assert brotli.content == APP_JS  # httpx decoded the precompressed sibling
    assert _trace_params(brotli.headers["frontdesk-trace"])["static"].endswith('app.js.br"')
    assert missing.status_code == 404
    assert "static" not in _trace_params(missing.headers["frontdesk-trace"])
    assert "frontdesk-trace" not in untraced.headers


def test_an_untrusted_peer_gets_no_trace(tree: Tree) -> None:
    with static_server(StaticFiles("/static/", str(tree.root))) as server:
        answer = raw_request(server.port, b"/static/hello.txt", [(b"frontdesk-trace", b"1")])
    assert answer.status == 200 and answer.all("frontdesk-trace") == []
    assert answer.header("server-timing") is not None


def test_quotes_in_a_file_name_cannot_break_the_field(tree: Tree) -> None:
    (tree.static / 'say "hi".txt').write_bytes(b"hi\n")
    files = StaticFiles("/static/", str(tree.root), alias=False, trusted=LOOPBACK)
    with static_server(files) as server:
        answer = raw_request(
            server.port, b"/static/say%20%22hi%22.txt", [(b"frontdesk-trace", b"1")]
        )
    assert answer.status == 200 and answer.body == b"hi\n"
    served = _trace_params(answer.header("frontdesk-trace") or "")["static"]
    assert served.endswith('/say %22hi%22.txt"') and served.count('"') == 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_sees_the_trace(tree: Tree) -> None:
    files = StaticFiles("/static/", str(tree.root), alias=False, trusted=LOOPBACK)
    with static_server(files) as server:
        url = f"{server.url}/static/hello.txt"
        out = subprocess.run(
            ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", "Frontdesk-Trace: 1", url],
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout.decode("latin-1")
    assert re.search(r"(?im)^frontdesk-trace: edge; pid=\d+; route=\"/static/\"; static=", out)
    assert re.search(r"(?im)^server-timing: edge;dur=\d+\.\d{3}\r$", out)
