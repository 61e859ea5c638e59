"""Response compression: negotiation, what is and is not compressed, framing, streaming.

Bodies are read raw and decoded with the real libraries (zlib's gzip, the brotli package).
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import Iterator

import httpx
import pytest

from frontdesk.edge.filters import CompressionFilter
from frontdesk.edge.filters.negotiate import MediaTypes, choose_coding, parse_accept_encoding
from frontdesk.http import Exchange, PreparedHead
from tests.edge.filters.support import LoopServer, Scripted, serve

try:
    import brotli
except ImportError:  # an optional dependency: gzip is tested without it
    brotli = None

needs_brotli = pytest.mark.skipif(brotli is None, reason="the brotli package is not installed")
#: what a client accepting both gets
PREFERRED = "br" if brotli is not None else "gzip"

TEXT = b"frontdesk compresses text that repeats itself. " * 40  # ~1.9 KB
AVAILABLE = ("br", "gzip")


def gunzip(data: bytes) -> bytes:
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


def decode(coding: str | None, data: bytes) -> bytes:
    if coding == "gzip":
        return gunzip(data)
    if coding == "br":
        assert brotli is not None
        out: bytes = brotli.decompress(data)
        return out
    return data


# -- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ([b"gzip, deflate, br"], "br"),
        ([b"gzip"], "gzip"),
        ([b"gzip;q=1.0, br;q=0.5"], "gzip"),
        ([b"br;q=0, *"], "gzip"),
        ([b"*;q=0.1, gzip;q=0"], "br"),
        ([b"gzip;q=0"], None),
        ([b"*;q=0"], None),
        ([b"identity"], None),
        ([b"x-gzip"], "gzip"),
        ([b"GZIP ; Q=0.8"], "gzip"),
        ([b"gzip;q=abc, br"], "br"),  # a malformed member is skipped
        ([b"deflate", b"gzip"], "gzip"),  # several fields combine
        ([], None),
    ],
)
def test_choose_coding(accept: list[bytes], expected: str | None) -> None:
    assert choose_coding(accept, AVAILABLE) == expected


def test_parse_accept_encoding_q_values() -> None:
    assert parse_accept_encoding([b"gzip;q=0.5, br;q=2, identity;q=0"]) == {
        "gzip": 0.5,
        "br": 1.0,
        "identity": 0.0,
    }


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (b"text/html; charset=utf-8", True),
        (b"TEXT/CSS", True),
        (b"application/json", True),
        (b"application/problem+json", True),
        (b"application/atom+xml", True),
        (b"image/svg+xml", True),
        (b"application/javascript", True),
        (b"image/png", False),
        (b"application/octet-stream", False),
        (b"text/event-stream", False),
    ],
)
def test_default_media_types(content_type: bytes, expected: bool) -> None:
    from frontdesk.edge.filters.negotiate import DEFAULT_TYPES

    assert MediaTypes(DEFAULT_TYPES).matches(content_type) is expected


# -- responses -----------------------------------------------------------------------------


#: the line the ``respond`` way adds as ``more`` (as the edge adds its request id)
MORE = b"x-request-id: 0123abcd\r\n"


def respond(exchange: Exchange, way: str) -> None:
    """The response is chosen by the path: /<kind>[/<content-type>]. ``way``: the head goes
    through ``start``, ``start_prepared`` (static files' and the proxy's way), or a whole
    response through ``respond`` with a ``more`` line (their ready answers' way)."""

    def whole(status: int, fields: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        if way == "respond":
            exchange.respond(PreparedHead(status, fields), body, MORE)
            return
        begin(status, fields)
        exchange.end(body)

    def begin(status: int, fields: list[tuple[bytes, bytes]]) -> None:
        if way == "start":
            exchange.start(status, fields)
        else:
            exchange.start_prepared(PreparedHead(status, fields))

    path = exchange.request.path.decode()
    kind, _, rest = path.strip("/").partition("/")
    ctype = (rest or "text/plain").encode()
    fields = [(b"content-type", ctype)]
    if kind == "whole":
        whole(200, fields, TEXT)
    elif kind == "small":
        whole(200, fields, b"tiny")
    elif kind == "declared":
        begin(200, [*fields, (b"content-length", b"%d" % len(TEXT))])
        exchange.write(TEXT[:1000])
        exchange.end(TEXT[1000:])
    elif kind == "small-declared":
        whole(200, [*fields, (b"Content-Length", b"4")], b"tiny")
    elif kind == "encoded":
        whole(200, [*fields, (b"content-encoding", b"gzip")], zlib.compress(TEXT))
    elif kind == "partial":
        whole(206, [*fields, (b"content-range", b"bytes 0-1919/9999")], TEXT)
    elif kind == "not-modified":
        whole(304, [(b"etag", b'"v1"')])
    elif kind == "no-transform":
        whole(200, [*fields, (b"cache-control", b"public, no-transform")], TEXT)
    elif kind == "etag":
        whole(200, [*fields, (b"etag", b'"v1"'), (b"accept-ranges", b"bytes")], TEXT)
    elif kind == "vary":
        whole(200, [*fields, (b"vary", b"Cookie")], TEXT)
    else:
        whole(404, fields, b"no such test response")


@pytest.fixture(scope="module", params=["start", "start_prepared", "respond"])
def server(request: pytest.FixtureRequest) -> Iterator[LoopServer]:
    way = request.param

    def answer(exchange: Exchange) -> None:
        respond(exchange, way)

    with serve(CompressionFilter(Scripted(answer))) as server:
        yield server


def fetch(
    server: LoopServer, path: str, accept: str | None = "gzip, br", method: str = "GET"
) -> tuple[httpx.Response, bytes]:
    headers = {"accept-encoding": accept} if accept is not None else {}
    with httpx.Client(base_url=server.url) as client:
        if accept is None:
            del client.headers["accept-encoding"]
        with client.stream(method, path, headers=headers) as response:
            raw = b"".join(response.iter_raw())
    return response, raw


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        pytest.param("br", "br", marks=needs_brotli),
        ("gzip;q=0.9, br;q=0.8", "gzip"),
        ("br, gzip", PREFERRED),
    ],
)
def test_whole_body_compressed_with_a_recomputed_length(
    server: LoopServer, accept: str, coding: str
) -> None:
    response, raw = fetch(server, "/whole", accept)
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "accept-encoding"
    assert int(response.headers["content-length"]) == len(raw) < len(TEXT) // 4
    assert decode(coding, raw) == TEXT


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, br;q=0", "deflate"])
def test_identity_when_the_client_accepts_no_coding(server: LoopServer, accept: str | None) -> None:
    response, raw = fetch(server, "/whole", accept)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "accept-encoding"  # it could have been compressed
    assert raw == TEXT


def test_declared_length_streamed_is_compressed_and_chunked(server: LoopServer) -> None:
    response, raw = fetch(server, "/declared/application/json", "gzip")
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert gunzip(raw) == TEXT


@pytest.mark.parametrize("path", ["/small", "/small-declared"])
def test_small_bodies_are_left_alone(server: LoopServer, path: str) -> None:
    response, raw = fetch(server, path)
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "4"
    assert response.headers["vary"] == "accept-encoding"
    assert raw == b"tiny"


@pytest.mark.parametrize(
    ("path", "coding"),
    [
        ("/whole/application/vnd.api+json", PREFERRED),
        ("/whole/image/svg+xml", PREFERRED),
        ("/whole/image/png", None),
        ("/whole/application/octet-stream", None),
    ],
)
def test_only_compressible_types(server: LoopServer, path: str, coding: str | None) -> None:
    response, raw = fetch(server, path)
    assert response.headers.get("content-encoding") == coding
    assert ("vary" in response.headers) is (coding is not None)
    assert decode(coding, raw) == TEXT


def test_untouched_responses(server: LoopServer) -> None:
    response, raw = fetch(server, "/encoded")
    assert response.headers["content-encoding"] == "gzip" and zlib.decompress(raw) == TEXT
    assert "vary" not in response.headers
    response, raw = fetch(server, "/partial")
    assert (response.status_code, raw) == (206, TEXT)
    assert "content-encoding" not in response.headers
    response, raw = fetch(server, "/not-modified")
    assert (response.status_code, raw) == (304, b"")
    assert response.headers["etag"] == '"v1"'
    response, raw = fetch(server, "/no-transform")
    assert "content-encoding" not in response.headers and raw == TEXT


def test_head_is_untouched(server: LoopServer) -> None:
    response, raw = fetch(server, "/whole", method="HEAD")
    assert "content-encoding" not in response.headers and "vary" not in response.headers
    assert response.headers["content-length"] == str(len(TEXT)) and raw == b""


def test_etag_weakened_accept_ranges_dropped_vary_merged(server: LoopServer) -> None:
    response, raw = fetch(server, "/etag", "gzip")
    assert response.headers["etag"] == 'W/"v1"'
    assert "accept-ranges" not in response.headers
    response, raw = fetch(server, "/vary", "gzip")
    assert response.headers.get_list("vary") == ["Cookie", "accept-encoding"]
    assert gunzip(raw) == TEXT


def test_without_brotli_gzip_is_used() -> None:
    def answer(exchange: Exchange) -> None:
        respond(exchange, "start")

    with serve(CompressionFilter(Scripted(answer), codings=("gzip",))) as server:
        response, raw = fetch(server, "/whole", "br, gzip;q=0.5")
        assert response.headers["content-encoding"] == "gzip" and gunzip(raw) == TEXT
        response, raw = fetch(server, "/whole", "br")
        assert "content-encoding" not in response.headers and raw == TEXT


def test_sendfile_bodies_are_compressed() -> None:
    async def send_file(exchange: Exchange) -> None:
        exchange.start(200, [(b"content-type", b"text/css")])
        await exchange.sendfile(io.BytesIO(b"xx" + TEXT * 50), 2, len(TEXT) * 50)
        exchange.end()

    with serve(CompressionFilter(Scripted(send_file))) as server:
        response, raw = fetch(server, "/", "gzip")
        assert response.headers["content-encoding"] == "gzip"
        assert gunzip(raw) == TEXT * 50


@pytest.mark.parametrize("coding", ["gzip", pytest.param("br", marks=needs_brotli)])
def test_streamed_response_is_compressed_incrementally(coding: str) -> None:
    """The first piece reaches the client, decodable, while the handler is still waiting."""
    loop_release: list[asyncio.Event] = []

    async def stream(exchange: Exchange) -> None:
        gate = asyncio.Event()
        loop_release.append(gate)
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.write(b"first piece " * 10)
        await gate.wait()
        exchange.write(b"second piece " * 10)
        exchange.end(b"the end")

    with serve(CompressionFilter(Scripted(stream))) as server, httpx.Client() as client:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None
        br = brotli.Decompressor() if brotli is not None and coding == "br" else None

        def feed(piece: bytes) -> bytes:
            if decoder is not None:
                return decoder.decompress(piece)
            assert br is not None
            out: bytes = br.process(piece)
            return out

        headers = {"accept-encoding": coding}
        with client.stream("GET", server.url + "/", headers=headers) as response:
            assert response.headers["content-encoding"] == coding
            pieces = response.iter_raw()
            decoded = b""
            while len(decoded) < len(b"first piece " * 10):
                decoded += feed(next(pieces))
            # Decoded while the handler still waits for the gate: nothing was held back.
            assert decoded == b"first piece " * 10
            server.call_soon(loop_release[0].set)
            decoded += b"".join(feed(piece) for piece in pieces)
        assert decoded == b"first piece " * 10 + b"second piece " * 10 + b"the end"


def test_handler_sees_the_status_and_start_state_of_a_deferred_response() -> None:
    seen: list[tuple[bool, int]] = []

    def script(exchange: Exchange) -> None:
        exchange.start(201, [(b"content-type", b"text/plain")])
        seen.append((exchange.started, exchange.status))
        exchange.end(TEXT)

    with serve(CompressionFilter(Scripted(script))) as server:
        response, raw = fetch(server, "/", "gzip")
        assert response.status_code == 201 and gunzip(raw) == TEXT
    assert seen == [(True, 201)]


def test_one_prepared_head_answered_again_follows_each_request() -> None:
    # Handlers answer from the same prepared head again and again (a static file's ready
    # head, an upstream head the proxy knows): what the filter works out about the head is
    # kept, what it does with the body is each request's own.
    heads = {
        "text": PreparedHead(200, [(b"content-type", b"text/plain")]),
        "sized": PreparedHead(200, [(b"content-type", b"text/plain"), (b"content-length", b"4")]),
        "png": PreparedHead(200, [(b"content-type", b"image/png")]),
        "vary": PreparedHead(
            200, [(b"content-type", b"text/plain"), (b"vary", b"Accept-Encoding")]
        ),
    }

    def answer(exchange: Exchange) -> None:
        kind = exchange.request.path.decode().strip("/")
        exchange.respond(heads[kind], b"tiny" if kind == "sized" else TEXT, MORE)

    with serve(CompressionFilter(Scripted(answer))) as server:
        for accept in ["gzip", "identity", "gzip", None, "gzip"]:
            response, raw = fetch(server, "/text", accept)
            assert response.headers["x-request-id"] == "0123abcd"
            assert response.headers["vary"] == "accept-encoding"
            coding = "gzip" if accept == "gzip" else None
            assert response.headers.get("content-encoding") == coding
            assert decode(coding, raw) == TEXT
            if coding is None:
                assert response.headers["content-length"] == str(len(TEXT))
            response, raw = fetch(server, "/sized", accept)
            assert raw == b"tiny" and "content-encoding" not in response.headers
            assert response.headers["vary"] == "accept-encoding"
            response, raw = fetch(server, "/png", accept)
            assert raw == TEXT and "content-encoding" not in response.headers
            assert "vary" not in response.headers
            response, raw = fetch(server, "/vary", accept)
            assert response.headers.get_list("vary") == ["Accept-Encoding"]
            assert decode(coding, raw) == TEXT
