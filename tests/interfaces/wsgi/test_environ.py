"""PEP 3333 environ over real sockets: CGI variables, HTTP_* fields, wsgi.* keys, proxies."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_from_bytes
from wsgiref.validate import validator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.http import Request
from frontdesk.interfaces.proxy import TrustedProxies
from frontdesk.interfaces.wsgi import FileWrapper
from frontdesk.interfaces.wsgi.environ import EnvironBuilder, split_host

from .helpers import fetch, get, wsgi_server


def environ_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    info: dict[str, Any] = {k: v for k, v in environ.items() if "." not in k}
    info["non_str"] = [k for k, v in info.items() if type(v) is not str]
    info["is_dict"] = type(environ) is dict
    info["wsgi"] = {
        "version": list(environ["wsgi.version"]),
        "url_scheme": environ["wsgi.url_scheme"],
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "input_terminated": environ.get("wsgi.input_terminated"),
        "file_wrapper": environ["wsgi.file_wrapper"] is FileWrapper,
        "errors_text": hasattr(environ["wsgi.errors"], "write"),
    }
    info["body"] = environ["wsgi.input"].read(1 << 30).decode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(info).encode()]


@pytest.mark.parametrize("validated", [False, True], ids=["plain", "validator"])
def test_cgi_variables_and_wsgi_keys(threads: int, validated: bool) -> None:
    app = validator(environ_app) if validated else environ_app
    with wsgi_server(app, threads=threads) as srv:
        env = get(srv.port, "/caf%C3%A9/a%2Fb?x=1&y=%20", "X-Thing: yes\r\n").json()
    assert env["is_dict"] is True
    assert env["non_str"] == []
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded to bytes, then latin-1: the UTF-8 bytes of "é" as two characters.
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["HTTP_HOST"] == "test"
    assert env["HTTP_X_THING"] == "yes"
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    assert env["wsgi"] == {
        "version": [1, 0],
        "url_scheme": "http",
        "multithread": threads > 1,
        "multiprocess": False,
        "run_once": False,
        "input_terminated": True,
        "file_wrapper": True,
        "errors_text": True,
    }


def test_path_bytes_come_back_exactly(threads: int) -> None:
    with wsgi_server(environ_app, threads=threads) as srv:
        env = get(srv.port, "/%FF%00%2F%25;p?q=%FF").json()
    assert env["PATH_INFO"] == "/\xff\x00/%;p"
    assert env["QUERY_STRING"] == "q=%FF"


def test_root_path_is_script_name(threads: int) -> None:
    with wsgi_server(environ_app, threads=threads, root_path="/api") as srv:
        env = get(srv.port, "/items/1").json()
    assert env["SCRIPT_NAME"] == "/api"
    assert env["PATH_INFO"] == "/items/1"


def test_header_fields_joined_and_underscores_dropped(threads: int) -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: test\r\nX-Custom: a\r\nX_Custom: evil\r\nX-Custom: b\r\n"
        b"Cookie: a=1\r\nCookie: b=2\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Client_IP: 10.9.9.9\r\nConnection: close\r\n\r\nhi"
    )
    with wsgi_server(environ_app, threads=threads) as srv:
        env = fetch(srv.port, request).json()
    assert env["HTTP_X_CUSTOM"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_CLIENT_IP" not in env
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["body"] == "hi"


def test_http10_without_host(threads: int) -> None:
    with wsgi_server(environ_app, threads=threads) as srv:
        env = fetch(srv.port, b"GET /x HTTP/1.0\r\n\r\n").json()
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"


def test_latin1_field_values(threads: int) -> None:
    with wsgi_server(environ_app, threads=threads) as srv:
        env = fetch(
            srv.port,
            b"GET / HTTP/1.1\r\nHost: t\r\nX-Name: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
        ).json()
    assert env["HTTP_X_NAME"] == "caf\xc3\xa9"  # the bytes as sent, one character each


def test_chunked_body_environ(threads: int) -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    with wsgi_server(environ_app, threads=threads) as srv:
        env = fetch(srv.port, request).json()
    assert env["body"] == "hello world"
    if threads == 1:
        # Received whole before the app runs: its length is known and given.
        assert env["CONTENT_LENGTH"] == "11"
        assert "HTTP_TRANSFER_ENCODING" not in env
    else:
        assert "CONTENT_LENGTH" not in env
        assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


FORWARDED = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"


def test_proxy_headers_from_a_trusted_peer(threads: int) -> None:
    trusted = TrustedProxies.from_setting(["127.0.0.1"])
    with wsgi_server(environ_app, threads=threads, trusted_proxies=trusted) as srv:
        env = get(srv.port, "/", FORWARDED).json()
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["REMOTE_PORT"] == "0"
    assert env["wsgi"]["url_scheme"] == "https"


@pytest.mark.parametrize("trusted", [None, TrustedProxies.from_setting(["10.0.0.0/8"])])
def test_proxy_headers_ignored_otherwise(threads: int, trusted: TrustedProxies | None) -> None:
    with wsgi_server(environ_app, threads=threads, trusted_proxies=trusted) as srv:
        env = get(srv.port, "/", FORWARDED).json()
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi"]["url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"


def _fake_exchange(host: bytes, server: Any, client: Any, path: bytes = b"/") -> Any:
    request = Request(
        method="GET",
        target=path,
        path=path,
        query=b"",
        version="1.1",
        headers=[(b"host", host)] if host else [],
        host=host,
        keep_alive=True,
        content_length=None,
        chunked=False,
        expect_continue=False,
        upgrade=None,
        accepts_trailers=False,
        proxied=False,
    )
    return SimpleNamespace(request=request, server=server, client=client, scheme="http")


def test_unix_socket_names_the_server_from_host() -> None:
    builder = EnvironBuilder(multithread=False, file_wrapper=FileWrapper)
    env = builder.build(_fake_exchange(b"example.com:8080", ("/run/app.sock", None), None), None)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert "REMOTE_ADDR" not in env and "REMOTE_PORT" not in env
    env = builder.build(_fake_exchange(b"", ("/run/app.sock", None), None), None)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("example.com", "http", ("example.com", "80")),
        ("example.com", "https", ("example.com", "443")),
        ("[::1]:8443", "https", ("::1", "8443")),
        ("[::1]", "http", ("::1", "80")),
        ("h:notaport", "http", ("h", "80")),
    ],
)
def test_split_host(host: str, scheme: str, expected: tuple[str, str]) -> None:
    assert split_host(host, scheme) == expected


def test_each_connection_has_its_own_facts() -> None:
    # The facts of a connection are remembered whole; another client or server has its own.
    builder = EnvironBuilder(multithread=False, file_wrapper=FileWrapper)
    server = ("10.0.0.1", 8000)
    for client in [("10.0.0.2", 5000), ("10.0.0.3", 5001), ("10.0.0.2", 5000)]:
        for _ in range(2):
            env = builder.build(_fake_exchange(b"h", server, client), None)
            assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (client[0], str(client[1]))
            assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("10.0.0.1", "8000")
    env = builder.build(_fake_exchange(b"h", ("10.0.0.9", 81), ("10.0.0.2", 5000)), None)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("10.0.0.9", "81")
    env["REMOTE_ADDR"] = "changed by the app"  # an environ is the request's own
    env = builder.build(_fake_exchange(b"h", ("10.0.0.9", 81), ("10.0.0.2", 5000)), None)
    assert env["REMOTE_ADDR"] == "10.0.0.2"


@given(st.binary(max_size=64))
def test_path_info_gives_back_the_bytes_of_any_encoded_path(raw: bytes) -> None:
    encoded = quote_from_bytes(b"/" + raw).encode("ascii")
    builder = EnvironBuilder(multithread=False, file_wrapper=FileWrapper)
    env = builder.build(_fake_exchange(b"h", ("10.0.0.1", 80), None, encoded), None)
    assert env["PATH_INFO"].encode("latin-1") == b"/" + raw
