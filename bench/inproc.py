"""frontdesk's own per-request cost, in one process, without sockets: for A/B of a change.

The wrk rows compare servers side by side, but on a shared machine their noise (10-20%)
hides a change worth 3%. This runs one layer's request path in process, with transports that
only record what is written, so what it measures is frontdesk's own work per request:

- ``core``: the HTTP/1.1 core (parser, connection, exchange) answering a fixed response;
- ``asgi``, ``wsgi``: the app server's handler (as ``frontdesk serve`` builds it, one
  thread for WSGI) calling the bench's hello-world app of that interface; ``-behind-edge``:
  the requests carry the forwarding and journey fields the edge adds (``frontdesk run``);
- ``static``: the edge's static route answering a 13-byte file (``static-13b``'s setup);
- ``proxy``: the edge's proxy route on its direct path, to an upstream answering at once
  with an nginx-like response head (``proxy-filtered``: the same with the response filters
  on, compression among them, as ``frontdesk edge`` and ``frontdesk run`` default to).

``python -m bench.inproc PATH`` prints CPU microseconds per request (best of 7). Each client
sends the same request over and over, as wrk does; ``--varied`` makes every request differ
from the one before it (a counter in the query), as most real clients' do: the HTTP core
then parses each one rather than recognising it as sent again.
``python -m bench.inproc --instructions PATH`` runs itself twice under valgrind's
cachegrind and prints instructions per request: deterministic to about 0.1%, so a change
can be judged on any machine load (``apt-get install valgrind``). Neither is a comparison
with peers; those are ``python -m bench``'s rows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

CONNECTIONS = 64

CLIENT_REQUEST = (
    b"GET /items/1?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
)
# The same as the edge sends it on (``--behind-edge``): its forwarding and journey fields.
EDGE_REQUEST = (
    b"GET /items/1?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8000\r\nuser-agent: bench\r\naccept: */*\r\n"
    b"x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: 127.0.0.1:8000\r\n"
    b'forwarded: for=127.0.0.1;proto=http;host="127.0.0.1:8000"\r\n'
    b"x-request-id: 0123456789abcdef0123456789abcdef\r\nx-request-start: t=1764040000000000\r\n\r\n"
)
# What wrk sends, and what an nginx ``return 200`` answers.
PROXY_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 03:39:56 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"
    b"Hello, world!"
)


class RecordingTransport:
    """Enough of a transport for a protocol: writes go to ``on_write``."""

    def __init__(self, peer: tuple[str, int], on_write: Callable[[bytes], None]) -> None:
        self.peer = peer
        self.on_write = on_write
        self.closing = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        facts = {"peername": self.peer, "sockname": ("127.0.0.1", 8000)}
        return facts.get(name, default)

    def write(self, data: bytes) -> None:
        self.on_write(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


# How many different requests ``--varied`` cycles through: more than any memo keeps, and a
# prime, so each connection's next request differs from its last.
VARIANTS = 4099


def variants(request: bytes, count: int = VARIANTS) -> list[bytes]:
    """``request`` with ``n=I`` added to its target's query, for I in range(count)."""
    line, rest = request.split(b"\r\n", 1)
    method, target, version = line.split(b" ")
    sep = b"&" if b"?" in target else b"?"
    return [b"%s %s%sn=%d %s\r\n%s" % (method, target, sep, i, version, rest) for i in range(count)]


class Clients:
    """``CONNECTIONS`` client connections, each sending its next request once answered."""

    def __init__(self, protocol: Callable[[], Any], request: bytes) -> None:
        self.request = request
        self.varied: list[bytes] = []
        self.sent = 0
        self.answered = 0
        self.ready = [True] * CONNECTIONS
        self.first: bytes = b""
        self.conns = []
        for index in range(CONNECTIONS):
            conn = protocol()
            conn.connection_made(
                RecordingTransport(("127.0.0.1", 40000 + index), self._writer(index))
            )
            self.conns.append(conn)

    def _writer(self, index: int) -> Callable[[bytes], None]:
        def written(data: bytes) -> None:
            if not self.first:
                self.first = data
            self.ready[index] = True
            self.answered += 1

        return written

    async def run(self, rounds: int) -> None:
        """``rounds`` passes of the loop, each sending on every connection answered."""
        loop = asyncio.get_running_loop()
        for _ in range(rounds):
            # From a plain callback, as the loop calls a protocol: no task is running then.
            loop.call_soon(self._send_round)
            for _ in range(3):
                await asyncio.sleep(0)

    def vary(self) -> None:
        """From now on every request differs from the one before it (``variants``)."""
        self.varied = variants(self.request)

    def _send_round(self) -> None:
        ready, request, varied = self.ready, self.request, self.varied
        for index, conn in enumerate(self.conns):
            if ready[index]:
                ready[index] = False
                if varied:
                    request = varied[self.sent % VARIANTS]
                    self.sent += 1
                conn.data_received(request)


class _Answer:
    def handle(self, exchange: Any) -> None:
        exchange.start(200, [(b"content-type", b"text/plain")])
        exchange.end(b"Hello, world!")


def core_clients(request: bytes = CLIENT_REQUEST) -> Clients:
    from frontdesk.http.connection import HttpConnection
    from frontdesk.http.limits import HttpLimits
    from frontdesk.http.server import HttpServer

    server = HttpServer(_Answer(), HttpLimits())
    return Clients(lambda: HttpConnection(server), request)


def proxy_clients(compress: bool = False) -> Clients:
    from frontdesk.edge.proxy.client import UpstreamConnection
    from frontdesk.edge.site import EdgeSpec, ProxySpec, build_site
    from frontdesk.http.connection import HttpConnection
    from frontdesk.http.limits import HttpLimits
    from frontdesk.http.server import HttpServer

    site = build_site(EdgeSpec(proxies=(ProxySpec("/", ("127.0.0.1:9",)),), compress=compress))
    server = HttpServer(site.handler, HttpLimits())
    site.start()
    upstream = site.routes[0].group.servers[0]
    # Connections are never retired here (the default retires one after 1,000 requests,
    # and the upstream is not there to open another).
    upstream.pool.options = replace(upstream.pool.options, max_requests=0)
    loop = asyncio.get_running_loop()
    for _ in range(CONNECTIONS):
        conn = UpstreamConnection(upstream.address)

        def answer(data: bytes, conn: UpstreamConnection = conn) -> None:
            loop.call_soon(conn.data_received, UPSTREAM_RESPONSE)

        conn.transport = RecordingTransport(("127.0.0.1", 9), answer)  # type: ignore[assignment]
        conn.begin("GET")
        conn.data_received(UPSTREAM_RESPONSE)
        conn.take_body()
        upstream.pool.put(conn)
    return Clients(lambda: HttpConnection(server), PROXY_REQUEST)


STATIC_REQUEST = b"GET /13b.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def static_clients() -> Clients:
    """The edge's static route as ``frontdesk edge --static /=DIR --no-compress`` builds it."""
    import atexit
    import tempfile

    from frontdesk.edge.site import EdgeSpec, StaticSpec, build_site
    from frontdesk.http.connection import HttpConnection
    from frontdesk.http.limits import HttpLimits
    from frontdesk.http.server import HttpServer

    root = tempfile.mkdtemp(prefix="frontdesk-inproc-")
    atexit.register(shutil.rmtree, root, True)
    with open(f"{root}/13b.txt", "wb") as file:
        file.write(b"Hello, world!")
    site = build_site(EdgeSpec(static=(StaticSpec("/", root),), compress=False))
    server = HttpServer(site.handler, HttpLimits())
    site.start()
    return Clients(lambda: HttpConnection(server), STATIC_REQUEST)


def _app_server(kind: str, request: bytes) -> Clients:
    """The app server's handler as ``frontdesk serve`` builds it by default, on a hello app."""
    from frontdesk.http.connection import HttpConnection
    from frontdesk.http.limits import HttpLimits
    from frontdesk.http.server import HttpServer
    from frontdesk.interfaces.proxy import TrustedProxies
    from frontdesk.observe.journey import Journey

    trusted = TrustedProxies.from_setting(["127.0.0.1", "::1"])
    journey = Journey(trusted, interface=kind)
    handler: Any
    if kind == "asgi":
        from bench.apps.hello_asgi import app as asgi_app
        from frontdesk.interfaces.asgi.http import ASGIHandler

        handler = ASGIHandler(asgi_app, trusted_proxies=trusted, journey=journey)
    else:
        from bench.apps.hello_wsgi import app as wsgi_app
        from frontdesk.interfaces.wsgi.handler import WSGIHandler

        handler = WSGIHandler(wsgi_app, trusted_proxies=trusted, journey=journey)
    server = HttpServer(handler, HttpLimits())
    return Clients(lambda: HttpConnection(server), request)


PATHS: dict[str, Callable[[], Clients]] = {
    "core": core_clients,
    "asgi": lambda: _app_server("asgi", CLIENT_REQUEST),
    "wsgi": lambda: _app_server("wsgi", CLIENT_REQUEST),
    # the app server as ``frontdesk run``'s edge drives it: forwarding and journey fields
    "asgi-behind-edge": lambda: _app_server("asgi", EDGE_REQUEST),
    "wsgi-behind-edge": lambda: _app_server("wsgi", EDGE_REQUEST),
    "proxy": proxy_clients,
    # a 13-byte file from the edge's static route (the ``static-13b`` row's setup)
    "static": static_clients,
    # with the response filters on, as ``frontdesk edge`` and ``frontdesk run`` default to
    "proxy-filtered": lambda: proxy_clients(compress=True),
}


async def measure(path: str, rounds: int, repeat: int, varied: bool = False) -> list[float]:
    clients = PATHS[path]()
    if varied:
        clients.vary()
    await clients.run(50)  # warm: caches filled, every connection reused
    if not clients.first.startswith(b"HTTP/1.1 200 "):
        raise SystemExit(f"{path}: unexpected answer {clients.first[:80]!r}")
    results = []
    for _ in range(repeat):
        before, started = clients.answered, time.process_time()
        await clients.run(rounds)
        answered = clients.answered - before
        results.append((time.process_time() - started) / max(answered, 1) * 1e6)
    return results


def run(path: str, rounds: int, repeat: int, varied: bool = False) -> list[float]:
    import uvloop

    gc.set_threshold(50_000, 20, 100)  # as the servers set it after start-up
    return uvloop.run(measure(path, rounds, repeat, varied))


def instructions(path: str, varied: bool = False) -> int:
    """Instructions per request: two runs under cachegrind, start-up cancelled out."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")

    def count(rounds: int) -> int:
        argv = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        argv += [
            sys.executable,
            "-m",
            "bench.inproc",
            path,
            "--rounds",
            str(rounds),
            "--repeat",
            "1",
            *(["--varied"] if varied else []),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        for line in done.stderr.splitlines():
            if "I" in line and "refs:" in line:
                return int(line.rsplit(":", 1)[1].replace(",", ""))
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-500:]}")

    short, long = count(20), count(120)
    return (long - short) // (100 * CONNECTIONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inproc", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("--rounds", type=int, default=500, help="rounds of requests per measure")
    parser.add_argument("--repeat", type=int, default=7, help="measures; the best is printed")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per request, by cachegrind"
    )
    parser.add_argument(
        "--varied",
        action="store_true",
        help="every request differs from the one before it (a counter in the query)",
    )
    args = parser.parse_args(argv)
    name = args.path + (" (varied)" if args.varied else "")
    if args.instructions:
        print(f"{name}: {instructions(args.path, args.varied):,} instructions per request")
        return 0
    results = run(args.path, args.rounds, args.repeat, args.varied)
    print(f"{name}: {min(results):.2f} us CPU per request (best of {len(results)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
