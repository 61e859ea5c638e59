"""Fields through the proxy: hop-by-hop ones dropped both ways, forwarding ones set or kept."""

from __future__ import annotations

import shutil
import socket
import subprocess

import httpx
import pytest

from frontdesk.edge.proxy import ProxyOptions, UpstreamGroup
from frontdesk.interfaces.proxy import TrustedProxies
from tests.edge.proxy.backends import RawBackend, proxy, raw_backend, read_request, serve_ok


def _fields(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines if line)
    ]


def _field(head: bytes, name: str) -> list[str]:
    return [value for key, value in _fields(head) if key == name]


CLIENT_FORWARDING = {
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "forged.example",
    "forwarded": "for=6.6.6.6;proto=https",
    "x-request-id": "client-chosen-id",
}


def hop_by_hop_answer(backend: RawBackend, sock: socket.socket) -> None:
    buffer = bytearray()
    while (request := read_request(sock, buffer)) is not None:
        backend.record(request[0])
        sock.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: x-secret, keep-alive\r\n"
            b"x-secret: 1\r\nkeep-alive: timeout=5\r\nproxy-authenticate: Basic\r\n"
            b"x-accel-redirect: /internal\r\nserver: upstream/1.0\r\nx-kept: yes\r\n\r\nok"
        )


def test_hop_by_hop_fields_are_dropped_both_ways() -> None:
    with (
        raw_backend(hop_by_hop_answer) as backend,
        proxy(UpstreamGroup([backend.url])) as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(
            b"GET /path?q=1 HTTP/1.1\r\nhost: site.example\r\n"
            b"connection: x-private, keep-alive\r\nx-private: 1\r\nkeep-alive: 300\r\n"
            b"te: trailers\r\ntrailer: x-t\r\nproxy-authorization: Basic Zm9v\r\n"
            b"proxy-connection: keep-alive\r\nupgrade: h2c\r\nx-kept: yes\r\n\r\n"
        )
        answer = b""
        while not answer.endswith(b"ok"):
            answer += sock.recv(65536)
    sent = backend.requests[0]
    assert sent.startswith(b"GET /path?q=1 HTTP/1.1\r\n")
    names = {name for name, _ in _fields(sent)}
    for gone in ("x-private", "keep-alive", "trailer", "proxy-authorization", "proxy-connection"):
        assert gone not in names
    assert "upgrade" not in names and "connection" not in names
    assert _field(sent, "te") == ["trailers"]  # the client accepts trailers: asked for upstream
    assert _field(sent, "x-kept") == ["yes"] and _field(sent, "host") == ["site.example"]
    head = answer.split(b"\r\n\r\n")[0]
    got = {name for name, _ in _fields(head)}
    for gone in ("x-secret", "keep-alive", "proxy-authenticate", "x-accel-redirect"):
        assert gone not in got
    assert _field(head, "server") == ["frontdesk"]
    assert _field(head, "x-kept") == ["yes"]


def test_an_untrusted_client_cannot_forge_forwarding_fields() -> None:
    with raw_backend(serve_ok) as backend, proxy(UpstreamGroup([backend.url])) as (server, _):
        r = httpx.get(server.url + "/", headers=CLIENT_FORWARDING, timeout=10)
    sent = backend.requests[0]
    assert _field(sent, "x-forwarded-for") == ["127.0.0.1"]
    assert _field(sent, "x-forwarded-proto") == ["http"]
    assert _field(sent, "x-forwarded-host") == [f"127.0.0.1:{server.port}"]
    assert _field(sent, "forwarded") == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{server.port}"']
    request_id = _field(sent, "x-request-id")
    assert len(request_id) == 1 and len(request_id[0]) == 32 and request_id[0] != "client-chosen-id"
    assert r.headers["x-request-id"] == request_id[0]


def test_a_trusted_proxy_has_its_forwarding_fields_kept_and_extended() -> None:
    options = ProxyOptions(trusted=TrustedProxies.from_setting(["127.0.0.1"]))
    with (
        raw_backend(serve_ok) as backend,
        proxy(UpstreamGroup([backend.url]), options) as (server, _),
    ):
        r = httpx.get(server.url + "/", headers=CLIENT_FORWARDING, timeout=10)
    sent = backend.requests[0]
    assert _field(sent, "x-forwarded-for") == ["6.6.6.6, 127.0.0.1"]
    assert _field(sent, "x-forwarded-proto") == ["https"]
    assert _field(sent, "x-forwarded-host") == ["forged.example"]
    assert _field(sent, "forwarded") == [
        f'for=6.6.6.6;proto=https, for=127.0.0.1;proto=http;host="127.0.0.1:{server.port}"'
    ]
    assert _field(sent, "x-request-id") == ["client-chosen-id"]
    assert r.headers["x-request-id"] == "client-chosen-id"


def test_host_is_passed_through_or_set_to_the_upstream() -> None:
    with raw_backend(serve_ok) as backend:
        with proxy(UpstreamGroup([backend.url])) as (server, _):
            httpx.get(server.url + "/", headers={"host": "app.example"}, timeout=10)
        with proxy(UpstreamGroup([backend.url]), upstream_host=True) as (server, _):
            httpx.get(server.url + "/", headers={"host": "app.example"}, timeout=10)
    assert _field(backend.requests[0], "host") == ["app.example"]
    assert _field(backend.requests[1], "host") == [f"127.0.0.1:{backend.port}"]
    assert _field(backend.requests[1], "x-forwarded-host") == ["app.example"]


def test_prefix_matching_and_stripping(gunicorn_urls: tuple[str, str]) -> None:
    group = UpstreamGroup([gunicorn_urls[0]])
    with proxy(group, prefix="/api", strip_prefix=True) as (server, route):
        assert route.matches(b"/api") and route.matches(b"/api/echo")
        assert not route.matches(b"/apis") and not route.matches(b"/")
        body = httpx.get(server.url + "/api/echo/x?y=1", timeout=10).json()
        assert (body["path"], body["query"]) == ("/echo/x", "y=1")


def test_chunked_upstream_response_is_reframed_and_trailers_pass() -> None:
    def chunked(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            sock.sendall(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 42\r\n\r\n"
            )

    with raw_backend(chunked) as backend:
        for buffering in (True, False):
            with proxy(UpstreamGroup([backend.url]), response_buffering=buffering) as (server, _):
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nte: trailers\r\n\r\n")
                    answer = b""
                    while not answer.endswith(b"\r\n\r\n") or b"x-sum" not in answer:
                        answer += sock.recv(65536)
                assert b"transfer-encoding: chunked" in answer
                assert answer.endswith(b"0\r\nx-sum: 42\r\n\r\n")
                plain = httpx.get(server.url, timeout=10)
                assert plain.text == "hello world"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_through_the_proxy(gunicorn_urls: tuple[str, str], tmp_path: object) -> None:
    with proxy(UpstreamGroup(list(gunicorn_urls))) as (server, _):
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "-i",
                "--max-time",
                "10",
                "-H",
                "Transfer-Encoding: chunked",
                "--data-binary",
                "hello curl",
                server.url + "/echo",
            ],
            capture_output=True,
            timeout=20,
            check=True,
        )
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b'"body_len": 10' in body and b'"x-forwarded-for": "127.0.0.1"' in body


def test_an_upstreams_interim_responses_are_not_mixed_into_the_final_one() -> None:
    # 100 Continue and 103 Early Hints before the final head, all in one read and apart:
    # the final response carries its own fields only, on both paths, twice over (the
    # connection is reused, so the parser kept between responses starts clean).
    def hinted(backend: RawBackend, sock: socket.socket) -> None:
        buffer = bytearray()
        while (request := read_request(sock, buffer)) is not None:
            backend.record(request[0])
            sock.sendall(b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n")
            sock.sendall(
                b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nx-final: 1\r\ncontent-length: 2\r\n\r\nok"
            )

    with raw_backend(hinted) as backend:
        for buffering in (True, False):
            group = UpstreamGroup([backend.url])
            with (
                proxy(group, response_buffering=buffering) as (server, _),
                httpx.Client(timeout=10) as client,
            ):
                for _ in range(3):
                    answer = client.get(server.url)
                    assert answer.status_code == 200 and answer.text == "ok"
                    assert answer.headers["x-final"] == "1"
                    assert "link" not in answer.headers
                    assert "x-interim" not in answer.headers
