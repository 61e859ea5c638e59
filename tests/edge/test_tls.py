"""TLS termination: versions, ALPN, SNI, the development certificate, configuration errors,
the https redirect and HSTS. Real handshakes on loopback, on every loop kind."""

from __future__ import annotations

import os
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from frontdesk.edge.filters import HstsFilter, HttpsRedirect
from frontdesk.edge.tls import (
    build_context,
    certificate_names,
    generate_self_signed,
    self_signed_context,
    server_name,
)
from frontdesk.errors import ConfigError
from frontdesk.http import Exchange, HttpLimits
from tests.edge.filters.support import LoopServer, Scripted, ipv6_available, serve
from tests.support.raw import exchange as raw_exchange
from tests.support.raw import read_until_closed

GET = b"GET /path?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def describe(exchange: Exchange) -> None:
    """Answers with what the server knows of the connection: scheme, ALPN, SNI."""
    tls = exchange.ssl_object
    alpn = tls.selected_alpn_protocol() if tls is not None else None
    body = f"{exchange.scheme} {alpn} {server_name(tls)}".encode()
    exchange.start(200, [(b"content-type", b"text/plain")])
    exchange.end(body)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(leaf: trustme.LeafCert, folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


@pytest.fixture(scope="module")
def pairs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("certs")
    first = ca.issue_cert("a.example", "localhost", "127.0.0.1")
    second = ca.issue_cert("*.b.example", "b.example")
    return [write_pair(first, folder, "first"), write_pair(second, folder, "second")]


@pytest.fixture
def tls_server(pairs: list[tuple[Path, Path]], loop_kind: str) -> Iterator[LoopServer]:
    with serve(Scripted(describe), tls=build_context(pairs), loop_kind=loop_kind) as server:
        yield server


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@dataclass
class Session:
    alpn: str | None
    peer_names: list[str]
    answer: bytes


def handshake(port: int, context: ssl.SSLContext, name: str | None = "a.example") -> Session:
    """A TLS connection with ``name`` as SNI, and the answer to one request on it."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        tls = context.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise
    with tls:
        cert = tls.getpeercert()
        names = [str(v) for kind, v in cert["subjectAltName"] if kind == "DNS"] if cert else []
        alpn = tls.selected_alpn_protocol()
        tls.sendall(GET)
        return Session(alpn, names, read_until_closed(tls))


# -- versions, ciphers, ALPN -------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_are_accepted(
    tls_server: LoopServer, ca: trustme.CA, version: ssl.TLSVersion
) -> None:
    context = client_context(ca)
    context.minimum_version = context.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="a.example") as tls:
        assert tls.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        cipher = tls.cipher()
        assert cipher is not None
        if version == ssl.TLSVersion.TLSv1_2:
            assert cipher[0].startswith("ECDHE-") and ("GCM" in cipher[0] or "CHACHA" in cipher[0])
        tls.sendall(GET)
        assert read_until_closed(tls).endswith(b"https None a.example")


def test_tls11_is_refused(tls_server: LoopServer, ca: trustme.CA) -> None:
    context = client_context(ca)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated: that's the point
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer it at all
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as info:
        handshake(tls_server.port, context)
    if "NO_PROTOCOLS_AVAILABLE" in str(info.value):
        pytest.skip("this OpenSSL cannot offer TLS 1.1")
    # The server refused the version (with an alert or by closing; the loops differ): the
    # same client, allowed TLS 1.2, gets through.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(tls_server.port, context).answer.startswith(b"HTTP/1.1 200 ")


def test_alpn_negotiates_http11(tls_server: LoopServer, ca: trustme.CA) -> None:
    context = client_context(ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    session = handshake(tls_server.port, context)
    assert session.alpn == "http/1.1"
    assert session.answer.endswith(b"https http/1.1 a.example")


def test_httpx_verifies_the_chain(tls_server: LoopServer, ca: trustme.CA) -> None:
    with httpx.Client(verify=client_context(ca)) as client:
        response = client.get(f"https://localhost:{tls_server.port}/")
        assert response.text == "https http/1.1 localhost"
        response = client.get(f"https://127.0.0.1:{tls_server.port}/")
        assert response.text == "https http/1.1 None"  # no SNI for an IP address


def test_plain_connections_say_http() -> None:
    with serve(Scripted(describe)) as server:
        assert httpx.get(server.url + "/").text == "http None None"


# -- SNI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.example", "a.example"),
        ("www.b.example", "*.b.example"),
        ("B.Example", "*.b.example"),
        ("deep.www.b.example", "a.example"),  # a wildcard stands for one label only
        ("unknown.example", "a.example"),
        (None, "a.example"),
    ],
)
def test_sni_picks_the_certificate(
    tls_server: LoopServer, ca: trustme.CA, name: str | None, expected: str
) -> None:
    context = client_context(ca)
    context.check_hostname = False  # the default certificate does not cover unknown names
    session = handshake(tls_server.port, context, name)
    assert expected in session.peer_names
    assert session.answer.endswith(f" {name.lower() if name else None}".encode())


def test_certificate_names(pairs: list[tuple[Path, Path]]) -> None:
    assert certificate_names(pairs[0][0]) == ["a.example", "localhost", "127.0.0.1"]
    assert certificate_names(pairs[1][0]) == ["*.b.example", "b.example"]


# -- the development certificate ---------------------------------------------------------------


def test_self_signed_serves_localhost_and_loopback_addresses(
    loop_kind: str, tmp_path: Path
) -> None:
    dev = generate_self_signed()
    trusted = tmp_path / "dev.pem"
    trusted.write_bytes(dev.cert_pem)
    verify = ssl.create_default_context(cafile=str(trusted))
    hosts = ["127.0.0.1", *(["::1"] if ipv6_available() else [])]
    for host in hosts:
        with (
            serve(
                Scripted(describe), host=host, tls=self_signed_context(dev), loop_kind=loop_kind
            ) as server,
            httpx.Client(verify=verify) as client,
        ):
            assert client.get(server.url + "/").text.startswith("https http/1.1")
            if host == "127.0.0.1":
                url = f"https://localhost:{server.port}/"
                assert client.get(url).text == "https http/1.1 localhost"


def test_self_signed_files_are_private(tmp_path: Path) -> None:
    cert, key = generate_self_signed().write(tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600
    assert certificate_names(cert) == ["localhost", "127.0.0.1", "::1"]


# -- configuration errors --------------------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_files(pairs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    cert, key = pairs[0]
    with pytest.raises(ConfigError) as info:
        build_context([(tmp_path / "nope.pem", key)])
    assert one_line(info) == f"TLS certificate file not found: {tmp_path / 'nope.pem'}"
    with pytest.raises(ConfigError) as info:
        build_context([(cert, tmp_path / "nope.key")])
    assert "TLS key file not found" in one_line(info)
    with pytest.raises(ConfigError):
        build_context([])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key(pairs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    key = tmp_path / "locked.key"
    key.write_bytes(pairs[0][1].read_bytes())
    key.chmod(0)
    with pytest.raises(ConfigError) as info:
        build_context([(pairs[0][0], key)])
    assert "cannot read TLS key file" in one_line(info)


def test_mismatched_and_garbage(pairs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    (cert_a, _), (_, key_b) = pairs
    with pytest.raises(ConfigError) as info:
        build_context([(cert_a, key_b)])
    assert one_line(info) == f"TLS certificate {cert_a} does not match its key {key_b}"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as info:
        build_context([(garbage, key_b)])
    assert one_line(info) == f"TLS certificate file {garbage} holds no PEM certificate"
    with pytest.raises(ConfigError) as info:
        build_context([(cert_a, garbage)])
    assert one_line(info) == f"TLS key file {garbage} holds no unencrypted PEM private key"
    with pytest.raises(ConfigError) as info:
        build_context([pairs[0], (garbage, key_b)])  # several: names are read from each
    one_line(info)


def test_encrypted_key(ca: trustme.CA, tmp_path: Path) -> None:
    leaf = ca.issue_cert("x.example")
    cert, key = write_pair(leaf, tmp_path, "x")
    plain = serialization.load_pem_private_key(key.read_bytes(), password=None)
    key.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError) as info:
        build_context([(cert, key)])  # refused at once: no password prompt on the terminal
    assert one_line(info) == f"TLS key {key} is encrypted; give it unencrypted"


def test_bad_settings(pairs: list[tuple[Path, Path]]) -> None:
    with pytest.raises(ConfigError) as info:
        build_context(pairs, min_version=ssl.TLSVersion.TLSv1_3, max_version=ssl.TLSVersion.TLSv1_2)
    assert "above the maximum" in one_line(info)
    with pytest.raises(ConfigError) as info:
        build_context(pairs, ciphers="NO-SUCH-CIPHER")
    assert "no TLS cipher matches" in one_line(info)


def test_a_silent_client_is_dropped_at_the_header_timeout(
    pairs: list[tuple[Path, Path]], loop_kind: str
) -> None:
    limits = HttpLimits(header_timeout=1)
    with (
        serve(
            Scripted(describe), tls=build_context(pairs), limits=limits, loop_kind=loop_kind
        ) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        started = time.monotonic()
        assert read_until_closed(sock, timeout=8) == b""  # no handshake: closed, unanswered
        assert time.monotonic() - started < 6


# -- redirect and HSTS -------------------------------------------------------------------------


def redirect(port: int, request: bytes) -> tuple[bytes, bytes | None]:
    answer = raw_exchange(port, request)
    status = answer.split(b" ", 2)[1]
    for line in answer.split(b"\r\n"):
        if line.lower().startswith(b"location: "):
            return status, line[10:]
    return status, None


def test_https_redirect() -> None:
    with serve(HttpsRedirect()) as server:
        port = server.port
        assert redirect(port, GET.replace(b"Host: t", b"Host: example.com:8080")) == (
            b"301",
            b"https://example.com/path?q=1",
        )
        post = b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        assert redirect(port, post) == (b"308", b"https://example.com/form")
        bare = b"GET / HTTP/1.0\r\n\r\n"  # no Host: the address the client reached
        assert redirect(port, bare) == (b"301", b"https://127.0.0.1/")
        v6 = b"HEAD /x HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n"
        assert redirect(port, v6) == (b"301", b"https://[::1]/x")
    with serve(HttpsRedirect(8443, status=302)) as server:
        assert redirect(server.port, GET) == (b"302", b"https://t:8443/path?q=1")


def test_https_redirect_settings() -> None:
    with pytest.raises(ConfigError):
        HttpsRedirect(0)
    with pytest.raises(ConfigError):
        HttpsRedirect(status=200)


def test_hsts_on_https_only(tls_server: LoopServer, pairs: list[tuple[Path, Path]]) -> None:
    def own_field(exchange: Exchange) -> None:
        exchange.start(200, [(b"Strict-Transport-Security", b"max-age=60")])
        exchange.end(b"mine")

    verify = ssl.create_default_context()
    hsts = HstsFilter(Scripted(describe), max_age=600)
    with serve(hsts, tls=build_context(pairs)) as server, serve(hsts) as plain:
        verify.check_hostname = False  # the chain is checked elsewhere; not the point here
        verify.verify_mode = ssl.CERT_NONE
        with httpx.Client(verify=verify) as client:
            response = client.get(server.url + "/")
            assert response.headers["strict-transport-security"] == (
                "max-age=600; includeSubDomains"
            )
            assert "strict-transport-security" not in client.get(plain.url + "/").headers
    preload = HstsFilter(Scripted(own_field), include_subdomains=False, preload=True)
    assert preload.value == b"max-age=31536000; preload"
    with serve(preload, tls=build_context(pairs)) as server, httpx.Client(verify=verify) as client:
        fields = client.get(server.url + "/").headers.get_list("strict-transport-security")
        assert fields == ["max-age=60"]  # the app's own is kept, not doubled
