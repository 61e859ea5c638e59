"""``frontdesk export nginx``: an nginx.conf doing the edge's job for the same config.

The site is read from the same ``EdgeSpec`` ``frontdesk edge`` builds (``edge.run.edge_spec``)
after planning the stack as ``frontdesk run`` does (``stack.plan``), so the two cannot drift:
each app becomes an ``upstream`` of its ``frontdesk serve`` socket, each ``[[upstreams]]``
group one of its servers, and each route a ``location``. How the edge's rules map:

- routes: a proxied prefix ``/api`` matches ``/api`` and ``/api/...`` (``location = /api``
  and ``location ^~ /api/``); a static prefix is a directory (``alias`` or ``root``);
  ``^~`` so that no regex location could take a request the edge would route elsewhere.
  With nothing at ``/``, a ``location /`` answers the edge's 404.
- hosts: routes with host names get a ``server`` of their own per name, holding its routes
  and those catch-all routes its own do not cover: frontdesk's router tries host routes
  before catch-all ones whatever their lengths, nginx picks the longest prefix in a server.
- forwarding: X-Forwarded-For is extended only for trusted peers (``forwarded_allow_ips``)
  and replaced for anyone else; X-Forwarded-Proto, X-Forwarded-Host and X-Request-ID are
  kept from trusted peers, else nginx's own (a fresh ``$request_id``), as the edge does;
  ``Forwarded`` is dropped, since the app server would read it first.
- filters: allow/deny in order, ``limit_req``/``limit_conn`` per client address, gzip for
  the text types, HSTS on HTTPS; nginx's ``add_header`` in a location replaces the server's,
  so locations that add their own repeat HSTS.

State lives under a prefix-relative directory (``var/`` by default: pid, logs, temp files)
and there is no ``user`` directive, so ``nginx -c FILE -p PREFIX`` runs unprivileged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence

from frontdesk.config.layout import route_key
from frontdesk.config.model import Config
from frontdesk.edge.proxy.upstream import ServerParameters
from frontdesk.edge.run import edge_spec
from frontdesk.edge.site import EdgeSpec, ProxySpec, StaticSpec
from frontdesk.edge.static.mime import WEB_TYPES
from frontdesk.errors import ConfigError

from .common import (
    DEFAULT_RUNTIME_DIR,
    PlannedApp,
    command_line,
    planned_apps,
    serve_command,
)
from .nginx_servers import Route, Server, servers_for
from .nginx_syntax import Lines, duration, on_off, quote

__all__ = ["export_nginx"]

#: the edge's answer when no route claims a request (``edge.router``)
NOT_FOUND = "404 Not Found: no route for this request\\n"

#: keep-alive connections each nginx worker keeps open to an upstream group
KEEPALIVE = 32

# Compressible types besides text/html (always compressed by gzip): the edge's list
# (``edge.filters.negotiate``) spelled out, as gzip_types has no wildcards.
_GZIP_TYPES = (
    "text/css",
    "text/javascript",
    "text/plain",
    "text/markdown",
    "text/csv",
    "text/xml",
    "text/vtt",
    "text/calendar",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/javascript",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "image/svg+xml",
    "application/wasm",
    "font/ttf",
    "font/otf",
    "application/vnd.ms-fontobject",
)

_NGINX_NAME = re.compile(r"[^A-Za-z0-9_]")


def export_nginx(
    config: Config,
    app_path: str | None,
    *,
    app_sockets: Mapping[str, str] | None = None,
    runtime_dir: str = DEFAULT_RUNTIME_DIR,
    state_dir: str = "var",
) -> str:
    """nginx.conf text for ``config``: the edge of ``frontdesk run`` (or ``frontdesk edge``).

    With APP or ``[[apps]]``, each app is expected behind nginx on ``RUNTIME_DIR/NAME.sock``
    (or the path ``app_sockets`` gives for its name), run by the ``frontdesk serve`` command
    the header comment shows. Without either, the config is exported as ``frontdesk edge``
    would serve it. ``state_dir`` (relative to nginx's ``-p`` prefix, or absolute) holds the
    pid file, logs and temp files; it must exist. ConfigError on what nginx cannot express.
    """
    apps: tuple[PlannedApp, ...] = ()
    if app_path is None and not config.layout.apps:
        if app_sockets:
            raise ConfigError("app sockets given, but there is no APP and no [[apps]] to run")
        edge = config
    else:
        edge, apps = planned_apps(config, app_path, runtime_dir, app_sockets)
    spec = edge_spec(edge)
    if not spec.static and not spec.proxies:
        raise ConfigError("the edge has nothing to serve: no static route, upstream or app")
    if edge.self_signed:
        raise ConfigError(
            "self_signed certificates are made at start by frontdesk; nginx needs files: "
            "give certfile and keyfile"
        )
    if bool(edge.certfile) != bool(edge.keyfile):
        raise ConfigError("TLS needs both certfile and keyfile")
    if edge.layout.certificates:
        raise ConfigError(
            f"{edge.layout.certificates[0].where}: [[edge.certificates]] (certificates chosen "
            "by SNI) are not exported to nginx yet: nginx picks them per server_name block"
        )
    if edge.redirect_http and not edge.certfile:
        raise ConfigError("redirect_http needs TLS: give certfile and keyfile")
    return _Writer(edge, spec, apps, state_dir).render()


# -- the writer -----------------------------------------------------------------------------


class _Writer:
    def __init__(
        self, config: Config, spec: EdgeSpec, apps: Sequence[PlannedApp], state_dir: str
    ) -> None:
        self.config = config
        self.spec = spec
        self.apps = apps
        self.state = state_dir.rstrip("/") or "/"
        self.tls = bool(config.certfile)
        self.out = Lines()
        self.groups: dict[str, str] = {}  # frontdesk group key -> nginx upstream name
        self.group_specs: dict[str, ProxySpec] = {}
        for proxy in spec.proxies:
            key = proxy.group or f"proxy {proxy.prefix}"
            if key not in self.groups:
                self.groups[key] = self._upstream_name(proxy.group or "default")
                self.group_specs[key] = proxy

    def _upstream_name(self, name: str) -> str:
        base = "frontdesk_" + _NGINX_NAME.sub("_", name)
        candidate, n = base, 1
        while candidate in self.groups.values():
            n += 1
            candidate = f"{base}_{n}"
        return candidate

    def _state(self, name: str) -> str:
        return f"{self.state}/{name}"

    def render(self) -> str:
        out = self.out
        self._header()
        out.add(
            "worker_processes " + str(max(1, self.config.edge_workers)) + ";",
            f"pid {self._state('nginx.pid')};",
            f"error_log {self._state('error.log')} {_error_level(self.config.log_level)};",
            "",
        )
        with out.block("events"):
            out.add("worker_connections 1024;")
        out.add("")
        with out.block("http"):
            self._http()
        return out.text()

    def _header(self) -> None:
        out = self.out
        behind = "the apps' own 'frontdesk serve' processes" if self.apps else "its upstreams"
        out.add(
            "# nginx.conf generated by 'frontdesk export nginx': the edge of this frontdesk",
            f"# config, for nginx in front of {behind}.",
        )
        if self.apps:
            out.add("#", "# Run each app behind it first (their sockets must exist):")
            for app in self.apps:
                out.add("#   " + command_line(serve_command(app)))
        out.add(
            "#",
            f"# Then: mkdir -p PREFIX/{self.state} && nginx -c THIS_FILE -p PREFIX"
            if not os.path.isabs(self.state)
            else f"# Then: mkdir -p {self.state} && nginx -c THIS_FILE -p PREFIX",
            "",
        )

    # -- http{} -----------------------------------------------------------------------------

    def _http(self) -> None:
        out, config = self.out, self.config
        self._types()
        out.add(
            "",
            "log_format frontdesk '$remote_addr - $remote_user [$time_local] \"$request\" '",
            '    \'$status $body_bytes_sent "$http_referer" "$http_user_agent" \'',
            "    'rid=$frontdesk_request_id rt=$request_time urt=$upstream_response_time';",
            f"access_log {self._state('access.log')} frontdesk;",
            f"client_body_temp_path {self._state('client_body_temp')};",
            f"proxy_temp_path {self._state('proxy_temp')};",
            f"fastcgi_temp_path {self._state('fastcgi_temp')};",
            f"uwsgi_temp_path {self._state('uwsgi_temp')};",
            f"scgi_temp_path {self._state('scgi_temp')};",
            "",
            "sendfile on;",
            "tcp_nopush on;",
            "server_tokens off;",
            f"client_max_body_size {config.limit_request_body};",
            f"client_header_timeout {duration(config.header_timeout)};",
            f"client_body_timeout {duration(config.body_timeout)};",
            f"keepalive_timeout {duration(config.keepalive_timeout)};",
            f"large_client_header_buffers 4 {_header_buffer(config)};",
        )
        if self.spec.compress:
            out.add(
                "",
                "gzip on;",
                "gzip_vary on;",
                "gzip_proxied any;",
                "gzip_min_length 256;",
                "gzip_types " + " ".join(_GZIP_TYPES) + ";",
            )
        if self.tls:
            out.add(
                "",
                f"ssl_certificate {quote(os.path.abspath(config.certfile))};",
                f"ssl_certificate_key {quote(os.path.abspath(config.keyfile))};",
                "ssl_protocols TLSv1.2 TLSv1.3;",
                "ssl_prefer_server_ciphers off;",
                "ssl_session_cache shared:frontdesk_tls:10m;",
                "ssl_session_timeout 1d;",
            )
        if self.spec.rate:
            out.add(
                "",
                "limit_req_zone $binary_remote_addr zone=frontdesk_rate:10m "
                f"rate={_rate(self.spec.rate)};",
                "limit_req_status 429;",
            )
        if self.spec.connections_per_client:
            out.add(
                "",
                "limit_conn_zone $binary_remote_addr zone=frontdesk_conn:10m;",
                "limit_conn_status 503;",
            )
        out.add("")
        self._forwarding()
        for key, name in self.groups.items():
            out.add("")
            self._upstream(name, self.group_specs[key])
        routes = [
            *(Route(s.prefix, s.hosts, static=s) for s in self.spec.static),
            *(Route(p.prefix, p.hosts, proxy=p) for p in self.spec.proxies),
        ]
        for server in servers_for(routes):
            out.add("")
            self._server(server)
        if self.config.redirect_http:
            out.add("")
            self._redirect_server()

    def _redirect_server(self) -> None:
        """``redirect_http``: plain-HTTP listeners sending every request to the https site."""
        ports = [a.port for a in self.config.bind_addresses if a.kind == "tcp" and a.port]
        port = "" if not ports or ports[0] == 443 else f":{ports[0]}"
        target = f"https://$host{port}$request_uri"
        with self.out.block("server"):
            for text in self.config.redirect_http:
                self.out.add(f"listen {text};")
            # GET and HEAD: 301; other methods 308, which keeps the method and body.
            with self.out.block("if ($request_method ~ ^(GET|HEAD)$)"):
                self.out.add(f"return 301 {target};")
            self.out.add(f"return 308 {target};")

    def _types(self) -> None:
        by_type: dict[str, list[str]] = {}
        for extension, kind in WEB_TYPES.items():
            by_type.setdefault(kind, []).append(extension.lstrip("."))
        with self.out.block("types"):
            for kind, extensions in by_type.items():
                self.out.add(f"{kind} {' '.join(extensions)};")
        self.out.add("default_type application/octet-stream;")

    def _forwarding(self) -> None:
        out = self.out
        with out.block("geo $frontdesk_trusted_peer"):
            default = "1" if "*" in self.spec.trusted else "0"
            out.add(f"default {default};")
            for net in self.spec.trusted:
                if net != "*":
                    out.add(f"{net} 1;")
        with out.block("map $frontdesk_trusted_peer $frontdesk_forwarded_for"):
            out.add("1 $proxy_add_x_forwarded_for;", "default $remote_addr;")
        # A trusted peer's values are kept; anyone else's replaced by what nginx knows.
        for header, variable, own in (
            ("x_request_id", "request_id", "$request_id"),
            ("x_forwarded_proto", "forwarded_proto", "$scheme"),
            ("x_forwarded_host", "forwarded_host", "$host"),
        ):
            with out.block(f'map "$frontdesk_trusted_peer:$http_{header}" $frontdesk_{variable}'):
                out.add(f'"~^1:(?<frontdesk_given_{variable}>.+)$" $frontdesk_given_{variable};')
                out.add(f"default {own};")
        with out.block("map $http_upgrade $frontdesk_connection"):
            out.add("default upgrade;", "'' '';")
        with out.block("map $http_host $frontdesk_host"):
            out.add("'' $host;", "default $http_host;")
        out.add(
            "",
            "proxy_http_version 1.1;",
            "proxy_set_header Host $frontdesk_host;",
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $frontdesk_connection;",
            "proxy_set_header X-Forwarded-For $frontdesk_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $frontdesk_forwarded_proto;",
            "proxy_set_header X-Forwarded-Host $frontdesk_forwarded_host;",
            "proxy_set_header X-Request-ID $frontdesk_request_id;",
            'proxy_set_header Forwarded "";',
            "proxy_redirect off;",
        )

    def _upstream(self, name: str, proxy: ProxySpec) -> None:
        out = self.out
        with out.block(f"upstream {name}"):
            if proxy.group:
                out.add(f"# frontdesk upstream group {proxy.group}")
            balance = _balance(proxy)
            if balance:
                out.add(balance)
            weights = proxy.weights or (1,) * len(proxy.servers)
            for text, weight in zip(proxy.servers, weights, strict=True):
                # The edge's nginx-style parameters: max_conns is nginx's too; its queue is
                # not in open source nginx (requests past the cap get 502 there).
                server = ServerParameters.parse(text)
                params = [f"server {_server_address(server.address)}"]
                if weight != 1:
                    params.append(f"weight={weight}")
                if server.max_conns and not server.wsgi_only:
                    params.append(f"max_conns={server.max_conns}")
                params.append(f"max_fails={proxy.max_fails}")
                params.append(f"fail_timeout={duration(proxy.fail_timeout)}")
                out.add(" ".join(params) + ";")
            if proxy.health_path:
                out.add(
                    f"# frontdesk probes GET {proxy.health_path} on each server; open source "
                    "nginx only checks passively (max_fails)"
                )
            out.add(f"keepalive {KEEPALIVE};")

    # -- server{} -------------------------------------------------------------------------

    def _server(self, server: Server) -> None:
        out = self.out
        # With host-named servers, the catch-all one answers every other name.
        default = not server.names and bool(_host_names(self.spec))
        with out.block("server"):
            for address in self.config.bind_addresses:
                if address.kind == "fd":
                    raise ConfigError(
                        f"bind {address}: nginx cannot take an inherited socket; give "
                        "HOST:PORT or unix:PATH"
                    )
                flags = " ssl" if self.tls else ""
                if default:
                    flags += " default_server"
                out.add(f"listen {address}{flags};")
            if server.names:
                out.add(f"server_name {' '.join(server.names)};")
            elif default:
                out.add("server_name _;")
            for action, net in self.spec.access:
                out.add(f"{action} {net};")
            if self.spec.rate:
                out.add(f"limit_req zone=frontdesk_rate burst={max(self.spec.burst, 1)} nodelay;")
            if self.spec.connections_per_client:
                out.add(f"limit_conn frontdesk_conn {self.spec.connections_per_client};")
            if self.tls and self.spec.hsts:
                out.add(self._hsts())
            self._locations(server.routes)

    def _hsts(self) -> str:
        return f'add_header Strict-Transport-Security "max-age={self.spec.hsts}" always;'

    def _own_headers(self, *headers: str) -> list[str]:
        """A location's add_header lines: with them, the server's are not inherited."""
        lines = list(headers)
        if lines and self.tls and self.spec.hsts:
            lines.append(self._hsts())
        return lines

    def _locations(self, routes: Iterable[Route]) -> None:
        emitted: set[str] = set()

        def location(head: str, body: Sequence[str]) -> None:
            if head in emitted:
                return
            emitted.add(head)
            self.out.add("")
            with self.out.block(f"location {head}"):
                self.out.add(*body)

        if self.spec.status_path:
            location(
                f"= {self.spec.status_path}",
                [
                    "access_log off;",
                    "default_type text/plain;",
                    *self._own_headers("add_header Cache-Control no-store;"),
                    'return 200 "ok\\n";',
                ],
            )
        has_root = False
        for route in routes:
            has_root = has_root or route.key == "/"
            if route.static is not None:
                head = "/" if route.key == "/" else f"^~ {route.key}/"
                body = _methods(route.static.methods) + self._static(route.static, route.key)
                location(head, body)
            elif route.proxy is not None:
                body = _methods(route.proxy.methods) + self._proxy(route.proxy)
                if route.key == "/":
                    location("/", body)
                else:
                    location(f"= {route.key}", body)
                    location(f"^~ {route.key}/", body)
        if not has_root:
            location(
                "/",
                [
                    'default_type "text/plain; charset=utf-8";',
                    f'return 404 "{NOT_FOUND}";',
                ],
            )

    def _static(self, static: StaticSpec, key: str) -> list[str]:
        root = os.path.abspath(static.root)
        if static.alias:
            lines = [f"alias {quote(root.rstrip('/') + '/')};"]
        else:
            lines = [f"root {quote(root)};"]
        lines.append("charset utf-8;")
        lines.append("charset_types " + " ".join(_text_types()) + ";")
        headers = ["add_header X-Content-Type-Options nosniff;"]
        if static.cache_control:
            headers.append(f"add_header Cache-Control {quote(static.cache_control)};")
        lines += self._own_headers(*headers)
        return lines

    def _proxy(self, proxy: ProxySpec) -> list[str]:
        name = self.groups[proxy.group or f"proxy {proxy.prefix}"]
        # A URI part in proxy_pass replaces the matched location prefix with it.
        target = (
            f"http://{name}/"
            if proxy.strip_prefix and route_key(proxy.prefix) != "/"
            else f"http://{name}"
        )
        request_buffering = (
            self.spec.request_buffering
            if proxy.request_buffering is None
            else proxy.request_buffering
        )
        response_buffering = (
            self.spec.response_buffering
            if proxy.response_buffering is None
            else proxy.response_buffering
        )
        # As the edge retries: connect errors, resets and the configured statuses, idempotent
        # requests only (nginx's default for non_idempotent), bounded in tries and time.
        retry = ["error", "timeout", *(f"http_{status}" for status in proxy.retry_statuses)]
        return [
            f"proxy_pass {target};",
            f"proxy_connect_timeout {duration(proxy.connect_timeout)};",
            f"proxy_read_timeout {duration(proxy.read_timeout)};",
            f"proxy_send_timeout {duration(proxy.send_timeout)};",
            f"proxy_buffering {on_off(response_buffering)};",
            f"proxy_request_buffering {on_off(request_buffering)};",
            f"proxy_next_upstream {' '.join(retry)};",
            f"proxy_next_upstream_tries {proxy.max_tries};",
            f"proxy_next_upstream_timeout {duration(proxy.retry_timeout)};",
        ]


def _host_names(spec: EdgeSpec) -> tuple[str, ...]:
    return (
        *(h for static in spec.static for h in static.hosts),
        *(h for proxy in spec.proxies for h in proxy.hosts),
    )


def _text_types() -> list[str]:
    # text/html is always among them: naming it again is a warning.
    return sorted({k for k in WEB_TYPES.values() if k.startswith("text/")} - {"text/html"})


def _balance(proxy: ProxySpec) -> str:
    if proxy.balance == "least-conn":
        return "least_conn;"
    if proxy.balance in ("hash", "hash-client"):
        kind, _, name = proxy.hash_key.partition(":")
        variable = "$remote_addr"
        if kind == "header":
            variable = "$http_" + name.strip().lower().replace("-", "_")
        elif kind == "cookie":
            variable = "$cookie_" + name.strip()
        return f"hash {variable} consistent;"
    return ""  # round-robin, weighted: nginx's default honours the weights


def _methods(methods: Sequence[str]) -> list[str]:
    """A route's allowed methods: 405 with Allow for the others, as the edge answers."""
    if not methods:
        return []
    allowed = list(dict.fromkeys(m.upper() for m in methods))
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return [
        f"if ($request_method !~ ^({'|'.join(allowed)})$) {{",
        f'    add_header Allow "{", ".join(allowed)}" always;',
        "    return 405;",
        "}",
    ]


def _server_address(address: str) -> str:
    if address.startswith("unix:"):
        return address
    for scheme in ("http://", "https://"):
        if address.startswith(scheme):
            address = address[len(scheme) :]
    return address.rstrip("/")


def _rate(per_second: float) -> str:
    if per_second >= 1 and float(per_second).is_integer():
        return f"{int(per_second)}r/s"
    return f"{max(1, round(per_second * 60))}r/m"


def _header_buffer(config: Config) -> str:
    size = max(config.limit_request_line, config.limit_request_field_size) + 2
    return f"{-(-size // 1024)}k"


def _error_level(level: str) -> str:
    return {"critical": "crit", "warning": "warn"}.get(level, level)
