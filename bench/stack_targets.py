"""The whole stack against the stacks people deploy today, one command line each.

- ``frontdesk run APP -w N``: the edge in front of N app workers on a unix socket;
- nginx in front of ``gunicorn -w N`` (sync workers) on a unix socket, as gunicorn's
  deployment guide sets it up (proxy_pass to the socket, the forwarded headers set);
- nginx in front of ``gunicorn -w N -k uvicorn_worker.UvicornWorker``, the usual way to serve
  FastAPI, with an upstream keep-alive pool (the peers get the faster setup of the two).

Every process of a target is started under the same CPU pin, so a row compares stacks at
equal CPU: what the front door costs is paid out of the same core the app workers use.
"""

from __future__ import annotations

from bench import targets as t
from bench.targets import Launch, Target

_PROXY_HEADERS = """\
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""


def frontdesk_run(app: str, workers: int) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        flags = f"""-b 127.0.0.1:{at.port} --workers {workers} --control-socket none
            --no-compress --log-level warning"""
        return [[at.python, "-m", "frontdesk", "run", app, *flags.split()]]

    version = t.module_version("frontdesk", "src/ missing?")
    return Target("frontdesk-run", "frontdesk", commands, version)


def _nginx_front(at: Launch, socket: str, *, keepalive: bool) -> list[str]:
    pool = "\n        keepalive 32;" if keepalive else ""
    version = (
        '\n            proxy_http_version 1.1;\n            proxy_set_header Connection "";'
        if keepalive
        else ""
    )
    body = f"""    upstream app_server {{
        server unix:{socket} fail_timeout=0;{pool}
    }}
    server {{
        listen 127.0.0.1:{at.port};
        location / {{
            proxy_pass http://app_server;{version}
{_PROXY_HEADERS}
        }}
    }}"""
    return t.nginx_argv(at.workdir / "nginx", body)


def nginx_gunicorn(app: str, workers: int) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        socket = at.workdir / "gunicorn.sock"
        flags = f"""--bind unix:{socket} --workers {workers} --worker-class sync
            --log-level warning --graceful-timeout 2"""
        gunicorn = [at.python, "-m", "gunicorn", app, *flags.split()]
        return [gunicorn, _nginx_front(at, str(socket), keepalive=False)]

    return Target("nginx+gunicorn", "gunicorn", commands, t.module_version("gunicorn"), ("nginx",))


def nginx_gunicorn_uvicorn(app: str, workers: int) -> Target:
    def commands(at: Launch) -> list[list[str]]:
        socket = at.workdir / "gunicorn.sock"
        flags = f"""--bind unix:{socket} --workers {workers}
            --worker-class uvicorn_worker.UvicornWorker --log-level warning --graceful-timeout 2"""
        gunicorn = [at.python, "-m", "gunicorn", app, *flags.split()]
        return [gunicorn, _nginx_front(at, str(socket), keepalive=True)]

    version = t.module_version("uvicorn_worker")
    return Target("nginx+gunicorn+uvicorn", "uvicorn_worker", commands, version, ("nginx",))
