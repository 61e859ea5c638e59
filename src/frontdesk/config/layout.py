"""The structured part of the config file: apps, upstream groups and edge routes.

Flat settings (``[server] bind``, ``[edge] rate_limit``...) are one value each and live in
``settings.py``. What a whole deployment also needs is lists of things, each a small table:

```toml
[[apps]]                      # an app the stack runs (``frontdesk run``)
app = "shop.web:app"          # required: MODULE:ATTRIBUTE
name = "shop"                 # default: the module's last part
workers = 2                   # default: [server] workers (auto: one per CPU)
mount = "/"                   # path prefix the edge sends to it
hosts = ["shop.example"]      # host names it answers for; default any

[[upstreams]]                 # servers the edge proxies to and does not run
name = "legacy"
servers = ["127.0.0.1:9000", { address = "unix:/run/b.sock", weight = 2 }]
balance = "least-conn"
mount = "/legacy/"            # optional: routes may mount it instead, or too

[[edge.routes]]               # more routes: static files, or an app or upstream elsewhere
prefix = "/assets/"
static = "./public"
cache_control = "public, max-age=3600"
```

Every entry is checked here, where the line of each key is known, so that a mistake is one
line naming ``file:line``: an unknown key (with a suggestion), a wrong type, a missing
required key, a name used twice, a route naming an upstream or app that does not exist, and
two routes claiming the same host and prefix. Files on disk (static roots, certificates) are
checked by the parts that open them, at start and by ``frontdesk check``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from frontdesk.config.tomlfile import KeyPath, TomlFile
from frontdesk.config.types import (
    Bool,
    Choice,
    Converter,
    Int,
    Invalid,
    ListOf,
    Seconds,
    Str,
    WorkerCount,
    toml_repr,
)
from frontdesk.errors import ConfigError

__all__ = [
    "STRUCTURED_KEYS",
    "AppEntry",
    "CertEntry",
    "Layout",
    "RouteEntry",
    "ServerEntry",
    "UpstreamEntry",
    "default_app_name",
    "parse_layout",
]

#: dotted TOML keys that hold lists of tables, read here and skipped by the settings loader
STRUCTURED_KEYS = frozenset({"apps", "upstreams", "edge.routes", "edge.certificates"})

_APP_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]", re.ASCII)

BALANCERS = ("round-robin", "weighted", "least-conn", "hash")


@dataclass(frozen=True, slots=True)
class ServerEntry:
    address: str
    weight: int = 1
    max_conns: int = 0  # requests it carries at once; 0: no limit


@dataclass(frozen=True, slots=True)
class AppEntry:
    """One ``[[apps]]`` table: an app the stack runs in its own pool of workers."""

    app: str
    name: str
    workers: int | None = None  # None: the [server] workers setting
    threads: int | None = None  # None: the [app] threads setting
    interface: str | None = None  # None: the [app] interface setting
    factory: bool = False
    app_dir: str | None = None  # None: the [server] app_dir setting
    mount: str = "/"
    hosts: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()  # empty: any
    where: str = field(default="", compare=False)  # file:line of the table, for messages


@dataclass(frozen=True, slots=True)
class UpstreamEntry:
    """One ``[[upstreams]]`` table: a group of servers the edge balances over."""

    name: str
    servers: tuple[ServerEntry, ...]
    balance: str = "round-robin"
    hash_key: str = "client"
    health_path: str = ""
    max_fails: int = 1
    fail_timeout: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    send_timeout: float = 60.0
    max_tries: int = 0  # 0: each server of the group once at most
    retry_timeout: float = 0.0  # 0: no bound but max_tries
    retry_statuses: tuple[int, ...] = ()
    health_interval: float = 5.0
    health_timeout: float = 2.0
    health_rise: int = 2
    health_fall: int = 3
    #: seconds a request waits at the edge when every server is at its max_conns: then 503
    queue_timeout: float = 10.0
    request_buffering: bool = True
    response_buffering: bool = True
    strip_prefix: bool = False
    mount: str | None = None
    hosts: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()  # empty: any
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One ``[[edge.routes]]`` table: a prefix (and hosts) served by exactly one target."""

    prefix: str
    static: str | None = None
    upstream: str | None = None
    app: str | None = None
    hosts: tuple[str, ...] = ()
    alias: bool = True
    cache_control: str = ""
    methods: tuple[str, ...] = ()  # empty: the target's own (any, or GET/HEAD for files)
    where: str = field(default="", compare=False)

    @property
    def target(self) -> str:
        if self.static is not None:
            return f"static {self.static}"
        if self.upstream is not None:
            return f"upstream {self.upstream}"
        return f"app {self.app}"


@dataclass(frozen=True, slots=True)
class CertEntry:
    """One ``[[edge.certificates]]`` table: a certificate the edge picks by SNI."""

    certfile: str
    keyfile: str
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything structured the file said; empty when there is no file or no such tables."""

    apps: tuple[AppEntry, ...] = ()
    upstreams: tuple[UpstreamEntry, ...] = ()
    routes: tuple[RouteEntry, ...] = ()
    #: more certificates beside ``[edge] certfile``, chosen by the name the client asks for
    certificates: tuple[CertEntry, ...] = ()
    #: where each part came from, for ``frontdesk config``
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def all_routes(self) -> tuple[RouteEntry, ...]:
        """The explicit routes plus those the apps and upstreams mount themselves."""
        implied = [
            RouteEntry(a.mount, app=a.name, hosts=a.hosts, methods=a.methods, where=a.where)
            for a in self.apps
        ] + [
            RouteEntry(u.mount, upstream=u.name, hosts=u.hosts, methods=u.methods, where=u.where)
            for u in self.upstreams
            if u.mount is not None
        ]
        return (*self.routes, *implied)


# -- reading ------------------------------------------------------------------------------


class _Key:
    """One key of an entry: its converter, whether it must be given, and what it means."""

    def __init__(
        self, converter: Converter[Any] | None, help: str = "", *, required: bool = False
    ) -> None:
        self.converter = converter
        self.required = required
        self.help = help


class _Prefix(Str):
    def __init__(self) -> None:
        super().__init__('a URL path prefix starting with "/", like /static/', "PREFIX")

    def parse(self, text: str) -> str:
        if not text.startswith("/") or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
            raise self.expected()
        return text


class _Host(Str):
    def __init__(self) -> None:
        super().__init__("a host name like example.com or *.example.com", "HOST")

    def parse(self, text: str) -> str:
        host = text.strip().lower().rstrip(".")
        if not _HOST.fullmatch(host):
            raise self.expected()
        return host


class _Name(Str):
    def __init__(self) -> None:
        super().__init__("a name of letters, digits, '.', '_' or '-'", "NAME")

    def parse(self, text: str) -> str:
        if not _NAME.fullmatch(text):
            raise self.expected()
        return text


class _AppPath(Str):
    def __init__(self) -> None:
        super().__init__("MODULE:ATTRIBUTE, e.g. pkg.web:app", "APP")

    def parse(self, text: str) -> str:
        if not _APP_PATH.fullmatch(text):
            raise self.expected()
        return text


class _Method(Str):
    def __init__(self) -> None:
        super().__init__("an HTTP method, like GET or POST", "METHOD")

    def parse(self, text: str) -> str:
        method = text.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z-]{0,31}", method):
            raise self.expected()
        return method


class _HashKey(Str):
    def __init__(self) -> None:
        super().__init__("client, header:NAME or cookie:NAME", "KEY")

    def parse(self, text: str) -> str:
        kind, _, name = text.partition(":")
        if text == "client" or (kind in ("header", "cookie") and name.strip()):
            return text
        raise self.expected()


class _Status(Str):
    def __init__(self) -> None:
        super().__init__("a 5xx status, like 502", "STATUS")

    def parse(self, text: str) -> str:
        if not re.fullmatch(r"5[0-9][0-9]", text.strip()):
            raise self.expected()
        return text.strip()

    def from_toml(self, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super().from_toml(value)


_HOSTS = ListOf(_Host(), allow_empty=True)
_STATUSES = ListOf(_Status(), allow_empty=True)
_METHODS = ListOf(_Method())

_APP_KEYS: dict[str, _Key] = {
    "app": _Key(_AppPath(), "the app to import", required=True),
    "name": _Key(_Name(), "its name in logs, titles and routes; default: from the module"),
    "workers": _Key(WorkerCount(), "its worker processes; default: [server] workers"),
    "threads": _Key(Int(low=1, high=1024), "WSGI threads per worker; default: [app] threads"),
    "interface": _Key(
        Choice("auto", "asgi3", "asgi2", "wsgi"), "default: [app] interface (auto-detected)"
    ),
    "factory": _Key(Bool(), "APP is a callable returning the app"),
    "app_dir": _Key(Str("a directory"), "imported from here; default: [server] app_dir"),
    "mount": _Key(
        _Prefix(),
        "the path prefix the edge sends to it (stripped; the app's "
        "root_path / SCRIPT_NAME); default /",
    ),
    "hosts": _Key(_HOSTS, "host names it answers for (*.example.com too); default: any"),
    "methods": _Key(_METHODS, "methods allowed (405 otherwise); default: any"),
}

_UPSTREAM_KEYS: dict[str, _Key] = {
    "name": _Key(_Name(), "the group's name, for routes and logs", required=True),
    # strings or {address, weight} tables
    "servers": _Key(
        None,
        "addresses (HOST:PORT, http://HOST:PORT, unix:PATH) or tables "
        "{ address = ..., weight = N, max_conns = N } (max_conns: requests at once)",
        required=True,
    ),
    "balance": _Key(Choice(*BALANCERS), "how a server is picked; default round-robin"),
    "hash_key": _Key(_HashKey(), "what balance = hash hashes; default client (its address)"),
    "health_path": _Key(_Prefix(), "active health checks: GET this path every few seconds"),
    "max_fails": _Key(Int(low=0), "failures that take a server out (0: never); default 1"),
    "fail_timeout": _Key(
        Seconds(0.0, exclusive=True), "window for max_fails and time out; default 10"
    ),
    "connect_timeout": _Key(Seconds(0.0, exclusive=True), "seconds to connect; default 5"),
    "read_timeout": _Key(
        Seconds(0.0, exclusive=True), "seconds of upstream silence before 504; default 60"
    ),
    "send_timeout": _Key(
        Seconds(0.0, exclusive=True), "seconds a write upstream may wait before 504; default 60"
    ),
    "max_tries": _Key(
        Int(low=0, high=100), "servers one request may try (0: each once at most); default 0"
    ),
    "retry_timeout": _Key(
        Seconds(0.0), "seconds within which a retry may start (0: no bound); default 0"
    ),
    "retry_statuses": _Key(
        _STATUSES,
        "upstream 5xx statuses answered by trying another server (idempotent requests only)",
    ),
    "health_interval": _Key(
        Seconds(0.0, exclusive=True), "seconds between health probes; default 5"
    ),
    "health_timeout": _Key(Seconds(0.0, exclusive=True), "seconds a probe may take; default 2"),
    "health_rise": _Key(Int(low=1), "good probes that bring a server back; default 2"),
    "health_fall": _Key(Int(low=1), "failed probes that take a server out; default 3"),
    "queue_timeout": _Key(
        Seconds(0.0, exclusive=True),
        "seconds a request waits when every server is at its max_conns, then 503; default 10",
    ),
    "request_buffering": _Key(Bool(), "read the whole body before going upstream; default true"),
    "response_buffering": _Key(Bool(), "read the whole response first; default true"),
    "strip_prefix": _Key(Bool(), "remove the route's prefix from the path sent; default false"),
    "mount": _Key(_Prefix(), "a path prefix routed to the group; default: none (use routes)"),
    "hosts": _Key(_HOSTS, "host names the mount answers for; default: any"),
    "methods": _Key(_METHODS, "methods allowed (405 otherwise); default: any"),
}

_ROUTE_KEYS: dict[str, _Key] = {
    "prefix": _Key(_Prefix(), "the URL path prefix it serves", required=True),
    "static": _Key(Str("a directory"), "serve the files of this directory"),
    "upstream": _Key(_Name(), "or: proxy to the [[upstreams]] group of this name"),
    "app": _Key(_Name(), "or: proxy to the [[apps]] app of this name"),
    "hosts": _Key(_HOSTS, "host names it answers for; default: any"),
    "alias": _Key(Bool(), "static: the prefix is replaced by the directory; default true"),
    "cache_control": _Key(
        Str("a Cache-Control value", allow_empty=True), "static: the Cache-Control sent"
    ),
    "methods": _Key(_METHODS, "methods allowed (405 otherwise)"),
}

_CERT_KEYS: dict[str, _Key] = {
    "certfile": _Key(Str("a file path"), "certificate chain (PEM)", required=True),
    "keyfile": _Key(Str("a file path"), "its private key (PEM)", required=True),
}

_SERVER_KEYS: dict[str, _Key] = {
    "address": _Key(Str("an address: HOST:PORT, http://HOST:PORT or unix:PATH"), required=True),
    "weight": _Key(Int(low=1, high=1000)),
    "max_conns": _Key(Int(low=0)),
}


def parse_layout(doc: TomlFile | None) -> Layout:
    """The apps, upstreams and routes of ``doc``, checked; ConfigError names file:line."""
    if doc is None:
        return Layout()
    reader = _Reader(doc)
    apps = tuple(_app(reader, path, values) for path, values in reader.tables(("apps",), _APP_KEYS))
    upstreams = tuple(
        _upstream(reader, path, values)
        for path, values in reader.tables(("upstreams",), _UPSTREAM_KEYS)
    )
    routes = tuple(
        _route(reader, path, values)
        for path, values in reader.tables(("edge", "routes"), _ROUTE_KEYS)
    )
    certificates = tuple(
        CertEntry(v["certfile"], v["keyfile"], v["where"])
        for _, v in reader.tables(("edge", "certificates"), _CERT_KEYS)
    )
    layout = Layout(apps, upstreams, routes, certificates, reader.sources)
    _check_names(layout)
    _check_routes(layout)
    return layout


class _Reader:
    def __init__(self, doc: TomlFile) -> None:
        self.doc = doc
        self.sources: dict[str, str] = {}

    def where(self, path: KeyPath) -> str:
        return self.doc.where(path)

    def fail(self, path: KeyPath, message: str) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {message}")

    def tables(
        self, key: KeyPath, keys: Mapping[str, _Key]
    ) -> list[tuple[KeyPath, dict[str, Any]]]:
        node: Any = self.doc.data
        for part in key:
            if not isinstance(node, dict) or part not in node:
                return []
            node = node[part]
        dotted = ".".join(key)
        if not isinstance(node, list) or not all(isinstance(t, dict) for t in node):
            raise self.fail(key, f"{dotted} must be an array of tables, [[{dotted}]]")
        out = []
        for index, table in enumerate(node):
            # The scanner records an array-of-tables header under the key itself, once per
            # header; tables after the first are found by their own keys' lines.
            path = (*key, str(index))
            values = self.convert(key, index, table, keys)
            self.sources[f"{dotted}[{index}]"] = self.entry_where(key, index, table)
            out.append((path, values))
        return out

    def entry_where(self, key: KeyPath, index: int, table: Mapping[str, Any]) -> str:
        line = self._entry_line(key, index, table)
        return f"file {self.doc.path}:{line}" if line else f"file {self.doc.path}"

    def _entry_line(self, key: KeyPath, index: int, table: Mapping[str, Any]) -> int | None:
        lines = self.doc.array_lines(key)
        if index < len(lines):
            return lines[index]
        return None

    def convert(
        self, key: KeyPath, index: int, table: Mapping[str, Any], keys: Mapping[str, _Key]
    ) -> dict[str, Any]:
        dotted = ".".join(key)
        line = self._entry_line(key, index, table)
        here = f"{self.doc.path}:{line}" if line else self.doc.path

        def fail(message: str) -> ConfigError:
            return ConfigError(f"{here}: [[{dotted}]] #{index + 1}: {message}")

        values: dict[str, Any] = {"where": here}
        for name, value in table.items():
            spec = keys.get(name)
            if spec is None:
                close = difflib.get_close_matches(name, list(keys), n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(keys)}"
                raise fail(f"unknown key {name}{hint}")
            if spec.converter is None:
                values[name] = value
                continue
            try:
                values[name] = spec.converter.from_toml(value)
            except Invalid as err:
                reason = (
                    err.reason if err.item is None else f"item {toml_repr(err.item)}: {err.reason}"
                )
                raise fail(f"{name} = {toml_repr(value)}: {reason}") from None
        for name, spec in keys.items():
            if spec.required and name not in values:
                raise fail(f"missing required key {name}")
        values["_fail"] = fail
        return values


#: module names that say nothing about which app it is ("shop.app" is the shop)
_GENERIC = frozenset({"app", "main", "wsgi", "asgi", "application", "server"})


def default_app_name(app_path: str) -> str:
    """An app's name when none is given: its module's last part that says something.

    ``shop.web:app`` is ``web``; ``shop.app:app`` and ``shop.main:app`` are ``shop``.
    """
    parts = app_path.partition(":")[0].split(".")
    for part in reversed(parts):
        if part not in _GENERIC:
            return part
    return parts[-1]


def _app(reader: _Reader, path: KeyPath, v: dict[str, Any]) -> AppEntry:
    return AppEntry(
        app=v["app"],
        name=v.get("name", default_app_name(v["app"])),
        workers=v.get("workers"),
        threads=v.get("threads"),
        interface=v.get("interface"),
        factory=v.get("factory", False),
        app_dir=v.get("app_dir"),
        mount=v.get("mount", "/"),
        hosts=v.get("hosts", ()),
        methods=v.get("methods", ()),
        where=v["where"],
    )


def _upstream(reader: _Reader, path: KeyPath, v: dict[str, Any]) -> UpstreamEntry:
    fail = v["_fail"]
    raw = v["servers"]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise fail(
            f"servers = {toml_repr(raw)}: expected one or more addresses, or "
            "{ address = ..., weight = N } tables"
        )
    servers = []
    for item in raw:
        if isinstance(item, str):
            item = {"address": item}
        if not isinstance(item, dict):
            raise fail(f"servers item {toml_repr(item)}: expected an address or a table")
        converted = {}
        for name, value in item.items():
            spec = _SERVER_KEYS.get(name)
            if spec is None or spec.converter is None:
                raise fail(f"servers item: unknown key {name}; known: address, weight, max_conns")
            try:
                converted[name] = spec.converter.from_toml(value)
            except Invalid as err:
                raise fail(f"servers item {name} = {toml_repr(value)}: {err.reason}") from None
        if "address" not in converted:
            raise fail("servers item: missing required key address")
        servers.append(
            ServerEntry(
                converted["address"], converted.get("weight", 1), converted.get("max_conns", 0)
            )
        )
    return UpstreamEntry(
        name=v["name"],
        servers=tuple(servers),
        balance=v.get("balance", "round-robin"),
        hash_key=v.get("hash_key", "client"),
        health_path=v.get("health_path", ""),
        max_fails=v.get("max_fails", 1),
        fail_timeout=v.get("fail_timeout", 10.0),
        connect_timeout=v.get("connect_timeout", 5.0),
        read_timeout=v.get("read_timeout", 60.0),
        send_timeout=v.get("send_timeout", 60.0),
        max_tries=v.get("max_tries", 0),
        retry_timeout=v.get("retry_timeout", 0.0),
        retry_statuses=tuple(int(x) for x in v.get("retry_statuses", ())),
        health_interval=v.get("health_interval", 5.0),
        health_timeout=v.get("health_timeout", 2.0),
        health_rise=v.get("health_rise", 2),
        health_fall=v.get("health_fall", 3),
        queue_timeout=v.get("queue_timeout", 10.0),
        request_buffering=v.get("request_buffering", True),
        response_buffering=v.get("response_buffering", True),
        strip_prefix=v.get("strip_prefix", False),
        mount=v.get("mount"),
        hosts=v.get("hosts", ()),
        methods=v.get("methods", ()),
        where=v["where"],
    )


def _route(reader: _Reader, path: KeyPath, v: dict[str, Any]) -> RouteEntry:
    targets = [k for k in ("static", "upstream", "app") if k in v]
    if len(targets) != 1:
        given = " and ".join(targets) if targets else "none"
        raise v["_fail"](f"a route needs exactly one of static, upstream or app (given: {given})")
    if "static" not in v and ("alias" in v or "cache_control" in v):
        raise v["_fail"]("alias and cache_control apply to static routes only")
    return RouteEntry(
        prefix=v["prefix"],
        static=v.get("static"),
        upstream=v.get("upstream"),
        app=v.get("app"),
        hosts=v.get("hosts", ()),
        alias=v.get("alias", True),
        cache_control=v.get("cache_control", ""),
        methods=v.get("methods", ()),
        where=v["where"],
    )


def _check_names(layout: Layout) -> None:
    seen: dict[str, str] = {}
    for kind, entries in (("app", layout.apps), ("upstream", layout.upstreams)):
        for entry in entries:
            other = seen.get(entry.name)
            if other is not None:
                raise ConfigError(
                    f"{entry.where}: {kind} name {entry.name!r} is already used at {other}; "
                    "give each app and upstream its own name"
                )
            seen[entry.name] = entry.where
    apps = {a.name for a in layout.apps}
    upstreams = {u.name for u in layout.upstreams}
    for route in layout.routes:
        if route.upstream is not None and route.upstream not in upstreams:
            known = ", ".join(sorted(upstreams)) or "none defined"
            raise ConfigError(
                f"{route.where}: route {route.prefix}: no upstream named {route.upstream!r} "
                f"(upstreams: {known})"
            )
        if route.app is not None and route.app not in apps:
            known = ", ".join(sorted(apps)) or "none defined"
            raise ConfigError(
                f"{route.where}: route {route.prefix}: no app named {route.app!r} (apps: {known})"
            )


def route_key(prefix: str) -> str:
    """Two prefixes that select the same requests compare equal: ``/a`` and ``/a/``."""
    return prefix.rstrip("/") or "/"


def _check_routes(layout: Layout) -> None:
    claimed: dict[tuple[str, str], RouteEntry] = {}
    for route in layout.all_routes():
        for host in route.hosts or ("*",):
            key = (host, route_key(route.prefix))
            other = claimed.get(key)
            if other is not None:
                on = "any host" if host == "*" else f"host {host}"
                raise ConfigError(
                    f"{route.where}: conflicting routes: {route.prefix} on {on} goes to "
                    f"{route.target} here and to {other.target} at {other.where}"
                )
            claimed[key] = route


# -- documenting ------------------------------------------------------------------------

_TABLES: tuple[tuple[str, str, dict[str, _Key]], ...] = (
    ("apps", "An app `frontdesk run` runs, in a pool of workers of its own.", _APP_KEYS),
    (
        "upstreams",
        "A group of servers the edge balances over and does not run.",
        _UPSTREAM_KEYS,
    ),
    (
        "edge.routes",
        "A prefix (and hosts) served by exactly one of: static, upstream, app.",
        _ROUTE_KEYS,
    ),
    (
        "edge.certificates",
        "A TLS certificate beside certfile/keyfile, chosen by the name the client asks (SNI).",
        _CERT_KEYS,
    ),
)


def layout_reference() -> list[str]:
    """Markdown lines documenting every table and key, from the declarations above."""
    out: list[str] = []
    for name, what, keys in _TABLES:
        out += [f"### `[[{name}]]`", "", what, "", "| key | value | meaning |", "|---|---|---|"]
        for key, spec in keys.items():
            kind = spec.converter.allowed if spec.converter is not None else "see meaning"
            need = " (required)" if spec.required else ""
            out.append(f"| `{key}`{need} | {kind} | {spec.help} |")
        out.append("")
    return out
