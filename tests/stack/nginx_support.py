"""Real nginx for the export tests: find it, check a config with ``nginx -t``, run one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_PATHS if os.access(path, os.X_OK)), None)


def _globals() -> str:
    # As root, nginx's workers would switch to "nobody", who cannot reach the test's private
    # directory; the export itself names no user, so the tests say who the workers are.
    return "daemon off;" + (" user root root;" if os.geteuid() == 0 else "")


def nginx_test(nginx: str, conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``conf``: returncode 0 when nginx accepts it."""
    (prefix / "var").mkdir(exist_ok=True)
    return subprocess.run(
        [nginx, "-t", "-q", "-c", str(conf), "-p", f"{prefix}/", "-g", _globals()],
        capture_output=True,
        text=True,
        timeout=30,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_nginx(
    nginx: str, conf: Path, prefix: Path, ready_socket: Path, *, tls: bool = False
) -> Iterator[None]:
    """nginx in the foreground with ``conf``, until it answers on ``ready_socket``; stopped after."""
    (prefix / "var").mkdir(exist_ok=True)
    log = (prefix / "nginx.out").open("w")
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", f"{prefix}/", "-g", _globals()],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(proc, ready_socket, prefix, tls)
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], sock: Path, prefix: Path, tls: bool) -> None:
    # A TLS listener is asked over TLS without checking its name: only "is it up" counts.
    transport = httpx.HTTPTransport(uds=str(sock), verify=False)
    base = "https://nginx.test" if tls else "http://nginx.test"
    deadline = time.monotonic() + 15
    with httpx.Client(transport=transport, base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if sock.exists():
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
    output = (prefix / "nginx.out").read_text() + _read(prefix / "var" / "error.log")
    raise AssertionError(f"nginx did not come up (exit {proc.poll()}):\n{output}")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
