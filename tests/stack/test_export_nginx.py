"""``export_nginx``: real nginx with the exported config in front of real ``frontdesk serve``.

The end-to-end test checks what ``frontdesk run`` gives for the same config: proxied pages of
an ASGI and a WSGI app (each on its own unix socket, run by the very command the export's
header names), static files with their type and cache header, host routing, the forwarding
headers, a POST body, a WebSocket, the status path and the edge's 404.
"""

from __future__ import annotations

import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from frontdesk.config import Config, load_config
from frontdesk.errors import ConfigError
from frontdesk.stack.export import export_nginx
from frontdesk.stack.export.common import command_line, planned_apps, serve_command
from tests.stack.nginx_support import find_nginx, free_port, nginx_test, running_nginx
from tests.support.processes import ServerProcess

NGINX = find_nginx()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (CI installs it)")

CSS = "body { color: #123456; }\n"
TEXT = "frontdesk " * 200 + "\n"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A private directory with a short path: unix socket paths are limited to ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="fdx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _config(directory: Path, text: str) -> Config:
    path = directory / "frontdesk.toml"
    path.write_text(text)
    return load_config({}, {}, str(path))


def _stack_toml(directory: Path, port: int) -> str:
    for name, css in (("public", CSS), ("other", "/* other host */\n")):
        (directory / name).mkdir()
        (directory / name / "style.css").write_text(css)
    (directory / "public" / "big.txt").write_text(TEXT)
    return f"""
[server]
bind = ["127.0.0.1:{port}", "unix:{directory}/edge.sock"]
workers = 1

[edge]
status_path = "/healthz"

[[apps]]
app = "tests.stack.echo_app:app"
name = "echo"
mount = "/api/"
workers = 1

[[apps]]
app = "tests.e2e.apps.flask_app:app"
name = "flask"
mount = "/flask/"
workers = 1

[[upstreams]]
name = "direct"
servers = ["unix:{directory}/run/echo.sock"]
balance = "least-conn"
mount = "/direct/"
strip_prefix = true
response_buffering = false

[[edge.routes]]
prefix = "/assets/"
static = "{directory}/public"
cache_control = "public, max-age=60"

[[edge.routes]]
prefix = "/assets/"
static = "{directory}/other"
hosts = ["static.test"]
"""


@needs_nginx
def test_nginx_in_front_of_frontdesk_serve(short_dir: Path) -> None:
    assert NGINX is not None
    port = free_port()
    config = _config(short_dir, _stack_toml(short_dir, port))
    runtime = short_dir / "run"
    runtime.mkdir()
    text = export_nginx(config, None, runtime_dir=str(runtime))
    conf = short_dir / "nginx.conf"
    conf.write_text(text)
    checked = nginx_test(NGINX, conf, short_dir)
    assert checked.returncode == 0, checked.stderr + text

    _, apps = planned_apps(config, None, str(runtime))
    with ExitStack() as stack:
        for app in apps:
            # The header comment names the command that runs each app behind nginx.
            assert "#   " + command_line(serve_command(app)) in text
            server = stack.enter_context(ServerProcess(serve_command(app, program=())))
            server.listening()
        stack.enter_context(running_nginx(NGINX, conf, short_dir, short_dir / "edge.sock"))
        tcp = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))
        uds = stack.enter_context(
            httpx.Client(
                transport=httpx.HTTPTransport(uds=str(short_dir / "edge.sock")),
                base_url="http://edge.test",
                timeout=10,
            )
        )
        _check_proxied(tcp, uds, port)
        _check_static(tcp)
        _check_edge_answers(tcp)
        _check_websocket(port)


def _check_proxied(tcp: httpx.Client, uds: httpx.Client, port: int) -> None:
    # ASGI app at /api/: it is served under its mount, its root path.
    r = tcp.get("/api/hello", params={"x": "1"})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["path"], seen["raw_path"]) == ("/api/hello", "/hello")
    assert (seen["query"], seen["root_path"]) == ("x=1", "/api")
    headers = seen["headers"]
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), headers
    assert "forwarded" not in headers
    assert seen["client"] == "127.0.0.1"

    # A trusted peer's forwarding fields are extended and kept, as the edge does...
    r = tcp.get(
        "/api/trusted",
        headers={
            "X-Forwarded-For": "203.0.113.7",
            "X-Request-ID": "given-id-1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "shop.example",
            "Forwarded": "for=1.1.1.1",
        },
    )
    headers = r.json()["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert headers["x-request-id"] == "given-id-1"
    assert (headers["x-forwarded-proto"], headers["x-forwarded-host"]) == ("https", "shop.example")
    assert r.json()["scheme"] == "https"
    assert "forwarded" not in headers
    assert r.json()["client"] == "203.0.113.7"
    # ...anyone else's are replaced (a unix socket client is not in forwarded_allow_ips).
    r = uds.get(
        "/api/untrusted",
        headers={
            "X-Forwarded-For": "203.0.113.7",
            "X-Request-ID": "forged",
            "X-Forwarded-Proto": "https",
        },
    )
    headers = r.json()["headers"]
    assert (headers["x-forwarded-proto"], r.json()["scheme"]) == ("http", "http")
    assert "203.0.113.7" not in headers["x-forwarded-for"]
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), headers

    # A POST body makes the round trip whole.
    body = bytes(range(256)).hex().encode() * 200  # 100 KiB
    r = tcp.post("/api/upload", content=body, headers={"content-type": "text/plain"})
    assert r.json()["method"] == "POST"
    assert (r.json()["body_size"], r.json()["body"]) == (len(body), body.decode())

    # A prefix-stripping [[upstreams]] group on the same socket.
    r = tcp.get("/direct/inner", params={"y": "2"})
    assert (r.json()["raw_path"], r.json()["query"]) == ("/inner", "y=2")

    # WSGI (Flask) at /flask/: an HTML page, the environ, a JSON POST.
    r = tcp.get("/flask/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == "hello from flask"
    environ = tcp.get("/flask/environ").json()
    assert (environ["script_name"], environ["path"]) == ("/flask", "/environ")
    assert environ["remote_addr"] == "127.0.0.1"
    r = tcp.post("/flask/json", json={"a": [1, 2, 3]})
    assert r.json() == {"received": {"a": [1, 2, 3]}}


def _check_static(tcp: httpx.Client) -> None:
    r = tcp.get("/assets/style.css")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text == CSS
    # The host-named route wins for its host only.
    r = tcp.get("/assets/style.css", headers={"Host": "static.test"})
    assert r.text == "/* other host */\n"
    # Text is compressed for clients that accept it.
    r = tcp.get("/assets/big.txt", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == TEXT  # httpx decodes it
    assert tcp.get("/assets/missing.css").status_code == 404


def _check_edge_answers(tcp: httpx.Client) -> None:
    r = tcp.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")
    r = tcp.get("/nothing/here")
    assert r.status_code == 404
    assert r.text == "404 Not Found: no route for this request\n"
    # The apps' own 404s still come from the apps.
    assert tcp.get("/flask/no-such-page").status_code == 404


def _check_websocket(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/api/ws", open_timeout=10, close_timeout=5) as ws:
        for text in ("hello", "again"):
            ws.send(text)
            assert ws.recv(timeout=10) == f"echo: {text}"


# -- what the text says, and what nginx accepts ------------------------------------------------


def test_tls_hsts_limits_and_access(short_dir: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(short_dir / "cert.pem"))
    cert.private_key_pem.write_to_path(str(short_dir / "key.pem"))
    (short_dir / "public").mkdir()
    config = _config(
        short_dir,
        f"""
[server]
bind = ["0.0.0.0:8443", "[::1]:8443", "unix:{short_dir}/edge.sock"]
[http]
limit_request_body = "2M"
header_timeout = 2.5
keepalive_timeout = 0
[edge]
certfile = "{short_dir}/cert.pem"
keyfile = "{short_dir}/key.pem"
hsts = 31536000
rate_limit = 0.5
rate_burst = 20
conn_limit = 8
allow = ["10.0.0.0/8"]
deny = ["10.9.0.0/16"]
compress = false
[[apps]]
app = "pkg.web:app"
workers = 3
[[edge.routes]]
prefix = "/files"
static = "{short_dir}/public"
alias = false
cache_control = "no-cache"
""",
    )
    text = export_nginx(config, None, app_sockets={"web": f"{short_dir}/web.sock"})
    lines = [line.strip() for line in text.splitlines()]
    for expected in (
        "listen 0.0.0.0:8443 ssl;",
        "listen [::1]:8443 ssl;",
        f"listen unix:{short_dir}/edge.sock ssl;",
        f"ssl_certificate {short_dir}/cert.pem;",
        f"ssl_certificate_key {short_dir}/key.pem;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "client_max_body_size 2097152;",
        "client_header_timeout 2500ms;",
        "keepalive_timeout 0s;",
        "limit_req_zone $binary_remote_addr zone=frontdesk_rate:10m rate=30r/m;",
        "limit_req zone=frontdesk_rate burst=20 nodelay;",
        "limit_conn frontdesk_conn 8;",
        f"server unix:{short_dir}/web.sock max_fails=0 fail_timeout=10s;",
        f"root {short_dir}/public;",
        "location ^~ /files/ {",
        "add_header Cache-Control no-cache;",
        "#   frontdesk serve pkg.web:app -b unix:" + f"{short_dir}/web.sock --workers 3",
    ):
        assert expected in lines, f"{expected!r} not in:\n{text}"
    assert "gzip on;" not in lines
    # Access rules in the edge's order: its denials, its allowances, then everyone else.
    access = [line for line in lines if re.match(r"(allow|deny) ", line)]
    assert access == ["deny 10.9.0.0/16;", "allow 10.0.0.0/8;", "deny all;"]
    # HSTS on the server, and again where a location's own add_header hides the server's.
    hsts = 'add_header Strict-Transport-Security "max-age=31536000" always;'
    assert lines.count(hsts) == 2  # the server, and the static location with its own headers
    if NGINX is not None:
        conf = short_dir / "nginx.conf"
        conf.write_text(text)
        checked = nginx_test(NGINX, conf, short_dir)
        assert checked.returncode == 0, checked.stderr + text


def test_edge_only_config_and_balancers(short_dir: Path) -> None:
    config = _config(
        short_dir,
        """
[server]
bind = ["127.0.0.1:8080"]
[[upstreams]]
name = "api.v1"
servers = ["http://127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 }]
balance = "hash"
hash_key = "cookie:session"
mount = "/"
read_timeout = 120
request_buffering = false
[[upstreams]]
name = "hashed"
servers = ["127.0.0.1:9003"]
balance = "hash"
mount = "/h/"
hosts = ["a.example.com", "*.example.org"]
""",
    )
    text = export_nginx(config, None)
    lines = [line.strip() for line in text.splitlines()]
    for expected in (
        "upstream frontdesk_api_v1 {",
        "hash $cookie_session consistent;",
        "server 127.0.0.1:9001 max_fails=1 fail_timeout=10s;",
        "server 127.0.0.1:9002 weight=3 max_fails=1 fail_timeout=10s;",
        "hash $remote_addr consistent;",
        "proxy_read_timeout 120s;",
        "proxy_request_buffering off;",
        "server_name a.example.com;",
        "server_name *.example.org;",
        "server_name _;",
        "listen 127.0.0.1:8080 default_server;",
    ):
        assert expected in lines, f"{expected!r} not in:\n{text}"
    assert "frontdesk serve" not in text  # nothing to run behind it: no apps
    # Nothing at / in the host servers' own routes: the catch-all / follows them in.
    assert text.count("proxy_pass http://frontdesk_api_v1;") == 3
    if NGINX is not None:
        conf = short_dir / "nginx.conf"
        conf.write_text(text)
        checked = nginx_test(NGINX, conf, short_dir)
        assert checked.returncode == 0, checked.stderr + text


def test_flat_proxy_setting_becomes_a_default_group() -> None:
    config = load_config(
        {"proxy": ["http://127.0.0.1:9000"], "balance": "least-conn", "static": ["/s/=/srv/s"]},
        {},
    )
    text = export_nginx(config, None)
    assert "upstream frontdesk_default {" in text
    assert "least_conn;" in text
    assert "alias /srv/s/;" in text


@pytest.mark.parametrize(
    ("cli", "app_sockets", "message"),
    [
        ({"self_signed": True}, None, "self_signed"),
        ({"bind": ["fd://3"]}, None, "inherited socket"),
        ({}, {"nope": "/x.sock"}, "no such app"),
        ({"certfile": "/c.pem"}, None, "both certfile and keyfile"),
    ],
)
def test_what_nginx_cannot_express_is_one_clear_error(
    cli: dict[str, Any], app_sockets: dict[str, str] | None, message: str
) -> None:
    config = load_config(cli, {})
    with pytest.raises(ConfigError, match=message):
        export_nginx(config, "pkg.web:app", app_sockets=app_sockets)


def test_no_apps_and_nothing_to_serve_is_an_error() -> None:
    with pytest.raises(ConfigError, match="nothing to serve"):
        export_nginx(load_config({}, {}), None)


def test_output_is_plain_text_with_the_run_hint() -> None:
    text = export_nginx(load_config({}, {}), "pkg.web:app")
    assert text.startswith("# nginx.conf generated by 'frontdesk export nginx'")
    assert "mkdir -p PREFIX/var && nginx -c THIS_FILE -p PREFIX" in text
    assert "\nuser " not in text
    assert "pid var/nginx.pid;" in text


@needs_nginx
def test_tls_hsts_and_rate_limit_through_real_nginx(short_dir: Path) -> None:
    """An edge-only config (static files, no apps) over HTTPS, with its request rate limited."""
    assert NGINX is not None
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(short_dir / "both.pem"))
    cert.private_key_pem.write_to_path(str(short_dir / "key.pem"))
    ca.cert_pem.write_to_path(str(short_dir / "ca.pem"))
    (short_dir / "site").mkdir()
    (short_dir / "site" / "index.html").write_text("<h1>hi</h1>\n")
    port = free_port()
    config = _config(
        short_dir,
        f"""
[server]
bind = ["127.0.0.1:{port}", "unix:{short_dir}/edge.sock"]
[edge]
certfile = "{short_dir}/both.pem"
keyfile = "{short_dir}/key.pem"
hsts = 600
status_path = "/healthz"
rate_limit = 1
rate_burst = 2
[[edge.routes]]
prefix = "/"
static = "{short_dir}/site"
""",
    )
    conf = short_dir / "nginx.conf"
    conf.write_text(export_nginx(config, None))
    with ExitStack() as stack:
        # The readiness probe speaks plain HTTP to a TLS socket: it waits via the error log.
        stack.enter_context(
            running_nginx(NGINX, conf, short_dir, short_dir / "edge.sock", tls=True)
        )
        client = stack.enter_context(
            httpx.Client(
                base_url=f"https://127.0.0.1:{port}",
                verify=ssl.create_default_context(cafile=str(short_dir / "ca.pem")),
                timeout=10,
            )
        )
        statuses = []
        for _ in range(6):  # one allowed, two in the burst, then 429 (well within a second)
            r = client.get("/index.html")
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert r.text == "<h1>hi</h1>\n"
                assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert r.headers["strict-transport-security"] == "max-age=600"
        assert statuses[0] == 200
        assert 429 in statuses, statuses
