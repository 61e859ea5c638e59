"""Targets: how to start one server on a loopback port, and how to ask its version.

A target is data plus two functions. ``commands`` gets a :class:`Launch` (the port, a private
work dir) and returns the command lines to start, in order; it may write config files into the
work dir. The harness starts each command in its own process group, pinned if asked, polls the
port until the expected answer comes back, and stops the groups in reverse order. The last
command is the server under test: its process group's CPU time is what the report counts
(earlier commands are helpers, such as the proxy scenario's backend).

Every server runs one worker process, bound to 127.0.0.1, with access logs off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, tools


class ProbeError(Exception):
    """A target cannot run here (its module or tool is missing); the message says why."""


@dataclass(frozen=True)
class Launch:
    port: int
    workdir: Path
    python: str = sys.executable


Commands = Callable[[Launch], list[list[str]]]
Version = Callable[[Mapping[str, str]], str]


@dataclass(frozen=True)
class Target:
    name: str  # the row's name, unique within a scenario: "granian-wsgi"
    server: str  # whose version the row reports: "granian"
    commands: Commands
    version: Version
    tools: tuple[str, ...] = field(default=())  # system executables it needs


def module_version(module: str, hint: str = "pip install -e '.[bench]'") -> Version:
    """Ask the interpreter the servers run under for ``module.__version__``."""

    def probe(env: Mapping[str, str]) -> str:
        code = f"import {module}; print({module}.__version__)"
        try:
            done = subprocess.run(
                [sys.executable, "-c", code],
                env=dict(env),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProbeError(f"cannot import {module}: {exc}") from exc
        if done.returncode != 0:
            raise ProbeError(f"{module} is not importable ({hint})")
        return done.stdout.strip()

    return probe


def _nginx_version(env: Mapping[str, str]) -> str:
    if tools.find_tool("nginx") is None:
        raise ProbeError(f"nginx not found ({tools.APT_HINT})")
    return tools.nginx_version()


def frontdesk(app: str) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        # One process, as the peers' rows here (-w 0: no arbiter; the default is one per CPU).
        flags = f"-b 127.0.0.1:{at.port} -w 0 --log-level warning"
        return [[at.python, "-m", "frontdesk", "serve", app, *flags.split()]]

    return Target("frontdesk", "frontdesk", commands, module_version("frontdesk", "src/ missing?"))


def uvicorn(app: str) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--host 127.0.0.1 --port {at.port} --workers 1
            --http httptools --loop uvloop --no-access-log --log-level warning"""
        return [[at.python, "-m", "uvicorn", app, *flags.split()]]

    return Target("uvicorn", "uvicorn", commands, module_version("uvicorn"))


def gunicorn(app: str) -> Target:
    """gunicorn's default sync worker: one request at a time and no keep-alive, by design."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--bind 127.0.0.1:{at.port} --workers 1 --worker-class sync
            --log-level warning --graceful-timeout 2"""
        return [[at.python, "-m", "gunicorn", app, *flags.split()]]

    return Target("gunicorn", "gunicorn", commands, module_version("gunicorn"))


def gunicorn_gthread(app: str, threads: int = 4) -> Target:
    """gunicorn's threaded worker: keep-alive, and ``threads`` requests at a time."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--bind 127.0.0.1:{at.port} --workers 1 --worker-class gthread
            --threads {threads} --log-level warning --graceful-timeout 2"""
        return [[at.python, "-m", "gunicorn", app, *flags.split()]]

    return Target("gunicorn-gthread", "gunicorn", commands, module_version("gunicorn"))


def gunicorn_asgi(app: str) -> Target:
    """gunicorn's own ASGI worker (``-k asgi``), one worker."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--bind 127.0.0.1:{at.port} --workers 1 --worker-class asgi
            --log-level warning --graceful-timeout 2"""
        return [[at.python, "-m", "gunicorn", app, *flags.split()]]

    return Target("gunicorn-asgi", "gunicorn", commands, module_version("gunicorn"))


def granian(app: str, interface: str) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--interface {interface} --host 127.0.0.1 --port {at.port} --http 1
            --workers 1 --runtime-threads 1 --loop uvloop --no-access-log --log-level warning"""
        return [[at.python, "-m", "granian", app, *flags.split()]]

    return Target(f"granian-{interface}", "granian", commands, module_version("granian"))


_NGINX_CONF = """\
# Generated by bench/targets.py for one benchmark run.
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    # nginx closes a keep-alive connection after 1000 requests by default; the Python servers
    # never do, so lift the cap to compare like with like.
    keepalive_requests 10000000;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return {status} "{body}"; }}
    }}
}}
"""


def nginx_return(status: int, body: str) -> Target:
    """nginx answering from its config: the ceiling for a static answer, no app involved."""
    if any(c in body for c in '"\\$'):
        raise ValueError("nginx_return body must not contain quotes, backslashes or '$'")

    def commands(at: Launch) -> list[list[str]]:
        conf = at.workdir / "nginx.conf"
        text = _NGINX_CONF.format(work=at.workdir, port=at.port, status=status, body=body)
        conf.write_text(text, encoding="utf-8")
        nginx = tools.find_tool("nginx") or "nginx"
        # -e: the error log before the config is read (else nginx tries /var/log/nginx).
        return [[nginx, "-p", f"{at.workdir}/", "-c", str(conf), "-e", f"{at.workdir}/error.log"]]

    return Target("nginx", "nginx", commands, _nginx_version, tools=("nginx",))


# -- several workers: each server's own process manager ---------------------------------------


def frontdesk_workers(app: str, workers: int) -> Target:
    """frontdesk's arbiter with ``workers`` workers (no control socket: nothing to ask it)."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""-b 127.0.0.1:{at.port} --workers {workers} --control-socket none
            --log-level warning"""
        return [[at.python, "-m", "frontdesk", "serve", app, *flags.split()]]

    return Target("frontdesk", "frontdesk", commands, module_version("frontdesk", "src/ missing?"))


def uvicorn_workers(app: str, workers: int) -> Target:
    """uvicorn's own multiprocess supervisor (``--workers N``)."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--host 127.0.0.1 --port {at.port} --workers {workers}
            --http httptools --loop uvloop --no-access-log --log-level warning"""
        return [[at.python, "-m", "uvicorn", app, *flags.split()]]

    return Target("uvicorn", "uvicorn", commands, module_version("uvicorn"))


def gunicorn_uvicorn_worker(app: str, workers: int) -> Target:
    """gunicorn's arbiter running uvicorn's worker class (the ``uvicorn-worker`` package)."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--bind 127.0.0.1:{at.port} --workers {workers}
            --worker-class uvicorn_worker.UvicornWorker --log-level warning --graceful-timeout 2"""
        return [[at.python, "-m", "gunicorn", app, *flags.split()]]

    version = module_version("uvicorn_worker")
    return Target("gunicorn-uvicorn-worker", "uvicorn_worker", commands, version)


def gunicorn_workers(app: str, workers: int) -> Target:
    """gunicorn's sync worker class, ``workers`` of them."""

    def commands(at: Launch) -> list[list[str]]:
        flags = f"""--bind 127.0.0.1:{at.port} --workers {workers} --worker-class sync
            --log-level warning --graceful-timeout 2"""
        return [[at.python, "-m", "gunicorn", app, *flags.split()]]

    return Target("gunicorn", "gunicorn", commands, module_version("gunicorn"))


# -- the edge: static files and a reverse proxy, against nginx ---------------------------------

STATIC_FILES: dict[str, bytes] = {
    "13b.txt": b"Hello, world!",
    "1mib.txt": (b"0123456789abcdef" * 64 + b"\n")[:1024] * 1024,  # 1 MiB of text
}


def write_static_files(root: Path) -> Path:
    """The files both static targets serve, written fresh into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in STATIC_FILES.items():
        (root / name).write_bytes(data)
    return root


_NGINX_HTTP = """\
# Generated by bench/targets.py for one benchmark run.
worker_processes 1;
daemon off;
{user}pid {work}/nginx.pid;
error_log {work}/error.log warn;
worker_rlimit_nofile {nofile};
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    default_type text/plain;
    types {{ text/plain txt; }}
    keepalive_requests 10000000;
    keepalive_timeout {keepalive}s;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
{body}
}}
"""


def nginx_argv(
    workdir: Path, body: str, *, connections: int = 4096, keepalive: int = 75
) -> list[str]:
    """Write an nginx.conf (one worker, access log off) around ``body``; the command to run it."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    text = _NGINX_HTTP.format(
        work=workdir,
        body=body,
        connections=connections,
        nofile=connections + 1024,
        keepalive=keepalive,
        # As root, nginx's worker would drop to "nobody" and could not read the private work
        # dir; keep it as the user frontdesk runs as, so both read the files alike.
        user="user root;\n" if os.geteuid() == 0 else "",
    )
    conf.write_text(text, encoding="utf-8")
    nginx = tools.find_tool("nginx") or "nginx"
    return [nginx, "-p", f"{workdir}/", "-c", str(conf), "-e", f"{workdir}/error.log"]


def nginx_static_body(port: int, root: Path) -> str:
    return f"""    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}"""


def edge_static_argv(python: str, port: int, root: Path, *extra: str) -> list[str]:
    flags = f"-b 127.0.0.1:{port} -w 0 --static /={root} --no-compress --log-level warning"
    return [python, "-m", "frontdesk", "edge", *flags.split(), *extra]


def edge_static() -> Target:
    """``frontdesk edge --static /=DIR`` (one process), compression off like nginx's default."""

    def commands(at: Launch) -> list[list[str]]:
        root = write_static_files(at.workdir / "www")
        return [edge_static_argv(at.python, at.port, root)]

    return Target("frontdesk", "frontdesk", commands, module_version("frontdesk", "src/ missing?"))


def nginx_static() -> Target:
    """nginx serving the same files: ``root``, ``sendfile on``, one worker."""

    def commands(at: Launch) -> list[list[str]]:
        root = write_static_files(at.workdir / "www")
        return [nginx_argv(at.workdir, nginx_static_body(at.port, root))]

    return Target("nginx", "nginx", commands, _nginx_version, tools=("nginx",))


def _backend_argv(at: Launch) -> tuple[list[str], int]:
    """The fixed fast backend every proxy target gets its own copy of: nginx ``return 200``."""
    port = procs.free_port()
    body = f"""    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "Hello, world!"; }}
    }}"""
    return nginx_argv(at.workdir / "backend", body), port


def edge_proxy() -> Target:
    """``frontdesk edge --proxy`` to its own nginx backend (started first; the edge is last)."""

    def commands(at: Launch) -> list[list[str]]:
        backend, port = _backend_argv(at)
        flags = f"""-b 127.0.0.1:{at.port} -w 0 --proxy http://127.0.0.1:{port} --no-compress
            --log-level warning"""
        return [backend, [at.python, "-m", "frontdesk", "edge", *flags.split()]]

    version = module_version("frontdesk", "src/ missing?")
    return Target("frontdesk", "frontdesk", commands, version, tools=("nginx",))


def _nginx_proxy_body(port: int, backend_port: int, fields: str = "") -> str:
    return f"""    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";{fields}
        }}
    }}"""


# What ``frontdesk edge`` adds to every proxied exchange by default, in nginx's words: the
# client's forwarding fields and a request id towards the backend (issue 6's list), the id and
# the edge's Server-Timing entry back to the client.
_SAME_FIELDS = """
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header Forwarded "for=$remote_addr;proto=$scheme;host=\\"$http_host\\"";
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header X-Request-Start "t=${msec}";
            add_header X-Request-ID $request_id;
            add_header Server-Timing "edge;dur=$request_time";"""


def nginx_proxy() -> Target:
    """nginx ``proxy_pass`` with an upstream keep-alive pool, to its own nginx backend; no
    field set beyond nginx's defaults."""

    def commands(at: Launch) -> list[list[str]]:
        backend, port = _backend_argv(at)
        body = _nginx_proxy_body(at.port, port)
        return [backend, nginx_argv(at.workdir / "edge", body)]

    return Target("nginx", "nginx", commands, _nginx_version, tools=("nginx",))


def nginx_proxy_same_fields() -> Target:
    """The same, set up to do what frontdesk's edge does by default: the forwarding fields,
    a request id both ways and a Server-Timing entry (``_SAME_FIELDS``)."""

    def commands(at: Launch) -> list[list[str]]:
        backend, port = _backend_argv(at)
        body = _nginx_proxy_body(at.port, port, _SAME_FIELDS)
        return [backend, nginx_argv(at.workdir / "edge", body)]

    return Target("nginx-same-fields", "nginx", commands, _nginx_version, tools=("nginx",))
