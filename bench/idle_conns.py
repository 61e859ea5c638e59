"""Memory of idle keep-alive connections: ``python -m bench.idle_conns --connections 10000``.

Starts one frontdesk edge process and one nginx worker (each serving a 13-byte static file, in
turn, not at once), opens N connections to it that each send one request, read the answer and
then stay idle, and reports how much the serving process's RSS grew per connection. The fd
limit is raised to the hard limit here and in the servers; if it cannot hold N connections,
the command says so and exits with status 2. Every server is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import REPO_ROOT, procs, targets, tools
from bench.run import _server_env

REQUEST = b"GET /13b.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
KEEPALIVE = 300  # seconds both servers keep an idle connection open: far longer than a run
SPARE_FDS = 256


@dataclass(frozen=True)
class Result:
    server: str
    connections: int
    before: int  # RSS bytes of the serving process after a few warm-up requests
    after: int  # RSS bytes with every connection open and idle
    fds: int  # open fds of the serving process at that moment: the connections really are held

    @property
    def per_connection(self) -> float:
        return (self.after - self.before) / self.connections


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft fd limit toward the hard limit; return the resulting soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def serving_pid(pgid: int) -> int:
    """The process that holds the connections: nginx's worker (the master's child), else pgid."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pgid and int(fields[2]) == pgid:
                return int(entry.name)
    return pgid


def one_request(sock: socket.socket) -> None:
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"Hello, world!"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} bytes")
        data += chunk


def wait_port(port: int, group: procs.Group, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reason = group.exit_reason()
        if reason is not None:
            raise RuntimeError(f"server {reason}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                one_request(sock)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer on port {port} within {timeout:g}s")


def measure(
    name: str, argv: Callable[[int, Path], list[str]], n: int, work: Path, timeout: float
) -> Result:
    port = procs.free_port()
    workdir = work / name
    workdir.mkdir(parents=True)
    group = procs.Group(argv(port, workdir), cwd=REPO_ROOT, env=_server_env(), log=workdir / "log")
    socks: list[socket.socket] = []
    try:
        wait_port(port, group)
        pid = serving_pid(group.proc.pid)
        for _ in range(20):  # warm the paths one request takes, so they don't count as growth
            with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
                one_request(sock)
        time.sleep(0.5)
        before = process_rss(pid)
        deadline = time.monotonic() + timeout
        for i in range(n):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {i} of {n} connections opened within {timeout:g}s")
            sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
            socks.append(sock)
            one_request(sock)
        time.sleep(1.0)  # let the server settle: every connection is now idle
        if group.exit_reason() is not None:
            raise RuntimeError(f"server {group.exit_reason()}")
        after = process_rss(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return Result(name, n, before, after, fds)
    finally:
        for sock in socks:
            sock.close()
        group.stop()


def frontdesk_argv(port: int, work: Path) -> list[str]:
    root = targets.write_static_files(work / "www")
    extra = ("--keepalive-timeout", str(KEEPALIVE), "--backlog", "4096")
    return targets.edge_static_argv(sys.executable, port, root, *extra)


def nginx_argv(n: int) -> Callable[[int, Path], list[str]]:
    def argv(port: int, work: Path) -> list[str]:
        root = targets.write_static_files(work / "www")
        body = targets.nginx_static_body(port, root)
        # nginx closes idle keep-alive connections once fewer than 1/16 of worker_connections
        # are free, so leave more than that spare, or it would drop some of the n.
        slots = n + n // 8 + SPARE_FDS
        return targets.nginx_argv(work, body, connections=slots, keepalive=KEEPALIVE)

    return argv


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.idle_conns",
        description="RSS growth per idle keep-alive connection: frontdesk edge vs nginx.",
    )
    p.add_argument("--connections", type=int, default=10_000, help="idle connections (10000)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to open them (120)")
    args = p.parse_args(argv)
    n: int = args.connections
    if n < 1:
        print("bench.idle_conns: --connections must be >= 1")
        return 2
    # This process holds n client sockets; each server (a child) inherits the raised limit.
    limit = raise_fd_limit(n + SPARE_FDS)
    if limit < n + SPARE_FDS:
        print(
            f"bench.idle_conns: skipped: the fd limit is {limit} and cannot be raised to "
            f"{n + SPARE_FDS}; try a lower --connections (at most {limit - SPARE_FDS})"
        )
        return 2
    servers: list[tuple[str, Callable[[int, Path], list[str]]]] = [("frontdesk", frontdesk_argv)]
    if tools.find_tool("nginx") is not None:
        servers.append(("nginx", nginx_argv(n)))
    else:
        print(f"nginx not found ({tools.APT_HINT}); frontdesk only", file=sys.stderr)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-idle-") as tmp:
        for name, make in servers:
            print(f"[{name}] opening {n} idle keep-alive connections", file=sys.stderr)
            try:
                results.append(measure(name, make, n, Path(tmp), args.timeout))
            except (OSError, RuntimeError) as exc:
                print(f"{name}: failed: {exc}", file=sys.stderr)
    print(f"idle keep-alive connections: {n} per server, one serving process each\n")
    print("| server | connections | server fds | RSS before | RSS after | growth per connection |")
    print("|---|--:|--:|--:|--:|--:|")
    for r in results:
        print(
            f"| {r.server} | {r.connections:,} | {r.fds:,} | {r.before / 2**20:.1f} MiB | "
            f"{r.after / 2**20:.1f} MiB | {r.per_connection / 1024:.1f} KiB "
            f"({r.per_connection:,.0f} B) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
