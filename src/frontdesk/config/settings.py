"""Every setting, declared once. The CLI, the TOML loader, the environment and the docs read this.

Adding a setting is one ``Setting(...)`` below plus its typed field on ``Config`` (a test fails
until both exist and agree), then regenerating docs/settings.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from frontdesk.config.bind import BindText
from frontdesk.config.types import (
    AUTO_WORKERS,
    Bool,
    Choice,
    Converter,
    FileMode,
    Int,
    ListOf,
    MountPath,
    Network,
    OptionalText,
    Rate,
    Seconds,
    Size,
    Str,
    WorkerCount,
)

__all__ = [
    "CONFIG_ENV",
    "CONSTRAINTS",
    "SECTIONS",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "SETTINGS_BY_TOML_KEY",
    "AtMost",
    "Setting",
]

T = TypeVar("T")

#: env var naming the TOML file when ``-c/--config`` is not given (not itself a setting)
CONFIG_ENV = "FRONTDESK_CONFIG"

#: TOML tables in the order the docs and help show them, with a one-line description
SECTIONS: dict[str, str] = {
    "server": "Where the server listens and what it loads.",
    "app": "How the app is called: its interface (ASGI or WSGI), mount point, lifespan, threads.",
    "worker": "Each worker process: its event loop, how much it takes on, and how it stops.",
    "http": "HTTP/1.1 limits, timeouts and flow control, per connection.",
    "proxy": "Which proxies in front may report the client's address and scheme, and how.",
    "ws": "WebSocket connections (ASGI apps).",
    "edge": "The front door: static routes, proxied upstreams, TLS and filters.",
    "log": "Logging.",
}


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: everything the CLI, TOML, environment and docs need to know about it.

    ``flags``, ``env`` and ``toml`` are derived from ``name`` and ``section`` when left empty:
    ``--keepalive-timeout``, ``FRONTDESK_KEEPALIVE_TIMEOUT``, ``http.keepalive_timeout``.
    """

    name: str
    section: str
    type: Converter[T]
    default: T
    help: str
    flags: tuple[str, ...] = ()
    env: str = ""
    toml: str = ""
    #: subcommands that take this setting as a flag (``frontdesk settings`` takes them all)
    commands: tuple[str, ...] = ("serve",)
    #: other environment variables read, in order, when ``env_var`` is not set (conventions
    #: of the field such as ``WEB_CONCURRENCY``)
    env_fallback: tuple[str, ...] = ()

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)

    @property
    def long_flag(self) -> str:
        """The flag named in messages and sources: the last ``--`` spelling."""
        return [f for f in self.cli_flags if f.startswith("--")][-1]

    @property
    def env_var(self) -> str:
        return self.env or "FRONTDESK_" + self.name.upper()

    @property
    def toml_key(self) -> str:
        return self.toml or f"{self.section}.{self.name}"

    @property
    def multiple(self) -> bool:
        return self.type.cli_shape == "repeat"


@dataclass(frozen=True)
class AtMost:
    """Cross-check between two settings: ``low`` must not exceed ``high``."""

    low: str
    high: str


#: settings both the application server and the edge take
BOTH = ("serve", "edge")

SETTINGS: tuple[Setting[Any], ...] = (
    # --- server -------------------------------------------------------------------------
    Setting(
        "bind",
        "server",
        ListOf(BindText()),
        ("127.0.0.1:8000",),
        "Address to listen on; repeat the flag (or use a comma-separated env var, a TOML "
        "array) to listen on several. Port 0 picks a free port.",
        flags=("-b", "--bind"),
        commands=BOTH,
    ),
    Setting(
        "backlog",
        "server",
        Int(low=1),
        2048,
        "Most connections the OS queues before they are accepted (listen() backlog).",
        commands=BOTH,
    ),
    Setting(
        "app_dir",
        "server",
        Str("a directory path", metavar="DIR"),
        ".",
        "Directory put first on sys.path before the app is imported; relative to the "
        "current directory.",
    ),
    Setting(
        "unix_mode",
        "server",
        FileMode(),
        None,
        "File mode of unix socket listeners, in octal (660); none keeps what the umask gives.",
        commands=BOTH,
    ),
    Setting(
        "workers",
        "server",
        WorkerCount(),
        AUTO_WORKERS,
        "Worker processes, run and watched by an arbiter process (auto: one per CPU; the "
        "WEB_CONCURRENCY variable is honoured). 0 serves in one process without an arbiter, "
        "for development; --workers 1 is one supervised worker. For 'frontdesk run': the app "
        "workers of each app without its own count.",
        flags=("-w", "--workers"),
        env_fallback=("WEB_CONCURRENCY",),
        commands=BOTH,
    ),
    Setting(
        "preload",
        "server",
        Bool(),
        False,
        "With workers: import the app in the arbiter before forking them (faster start, shared "
        "memory); a reload (HUP) then re-reads the config but not the app's code.",
    ),
    Setting(
        "reload",
        "server",
        Bool(),
        False,
        "Development: restart the workers when a .py or .toml file under app_dir or the config "
        "file changes (needs the watchfiles package: pip install 'frontdesk[reload]').",
    ),
    Setting(
        "pid_file",
        "server",
        OptionalText("a file path", metavar="FILE"),
        None,
        "With workers: write the arbiter's process id to this file, and remove it on exit.",
        flags=("--pid",),
        commands=BOTH,
    ),
    Setting(
        "control_socket",
        "server",
        Str("a unix socket path, auto or none", metavar="PATH"),
        "auto",
        "With workers: unix socket (mode 0600) that 'frontdesk ctl' talks to; auto is "
        "control.sock in $XDG_RUNTIME_DIR/frontdesk, else in /tmp/frontdesk-UID; none has none.",
        commands=("serve", "edge", "ctl"),
    ),
    Setting(
        "user",
        "server",
        OptionalText("a user name or numeric id", metavar="USER"),
        None,
        "With workers: the user the workers switch to after the arbiter has bound the sockets.",
        commands=BOTH,
    ),
    Setting(
        "group",
        "server",
        OptionalText("a group name or numeric id", metavar="GROUP"),
        None,
        "With workers: the group the workers switch to; default the user's primary group.",
        commands=BOTH,
    ),
    # --- app ----------------------------------------------------------------------------
    Setting(
        "factory",
        "app",
        Bool(),
        False,
        "APP is a factory: call it with no arguments to get the app.",
    ),
    Setting(
        "interface",
        "app",
        Choice("auto", "asgi3", "asgi2", "wsgi"),
        "auto",
        "The contract APP speaks; auto detects it from APP's call signature.",
    ),
    Setting(
        "root_path",
        "app",
        MountPath(),
        "",
        "URL path the app is mounted under, like /api: ASGI root_path, WSGI SCRIPT_NAME.",
    ),
    Setting(
        "lifespan",
        "app",
        Choice("auto", "on", "off"),
        "auto",
        "ASGI lifespan events: on requires the app to handle them, off never sends them, auto "
        "carries on if the app does not support them.",
    ),
    Setting(
        "threads",
        "app",
        Int(low=1),
        1,
        "WSGI: threads per worker calling the app; 1 calls it on the worker's own thread.",
    ),
    # --- worker -------------------------------------------------------------------------
    Setting(
        "loop",
        "worker",
        Choice("auto", "uvloop", "asyncio"),
        "auto",
        "Event loop of each worker; auto picks uvloop when it is installed.",
        commands=BOTH,
    ),
    Setting(
        "limit_concurrency",
        "worker",
        Int(low=0),
        0,
        "Most connections a worker serves at once; beyond it, requests get 503. 0 means unlimited.",
    ),
    Setting(
        "limit_max_requests",
        "worker",
        Int(low=0),
        0,
        "Requests a worker serves before it is replaced (with workers: its replacement starts "
        "first); without workers the process stops gracefully. 0 means never.",
        flags=("--max-requests", "--limit-max-requests"),
    ),
    Setting(
        "max_requests_jitter",
        "worker",
        Int(low=0),
        0,
        "With workers: add a random 0..N to each worker's limit_max_requests, so that the "
        "workers are not all replaced at once.",
    ),
    Setting(
        "max_rss",
        "worker",
        Int(low=0, metavar="MIB"),
        0,
        "With workers: replace a worker (gracefully, its replacement first) once its resident "
        "memory exceeds this many MiB; 0 means never.",
        commands=BOTH,
    ),
    Setting(
        "timeout",
        "worker",
        Seconds(0),
        30.0,
        "With workers: a worker whose event loop has not ticked for this many seconds is "
        "aborted (SIGABRT, which dumps its stack), killed and replaced; 0 never.",
        commands=BOTH,
    ),
    Setting(
        "graceful_timeout",
        "worker",
        Seconds(0, exclusive=True),
        30.0,
        "Seconds a stopping worker has to finish the requests in flight before they are cut off.",
        commands=BOTH,
    ),
    # --- http ---------------------------------------------------------------------------
    Setting(
        "limit_request_line",
        "http",
        Int(64, 1048576, metavar="BYTES"),
        8190,
        "Longest request line (method, target, version) in bytes; past it, 414.",
        commands=BOTH,
    ),
    Setting(
        "limit_request_fields",
        "http",
        Int(1, 32768),
        100,
        "Most header fields in one request; past it, 431.",
        commands=BOTH,
    ),
    Setting(
        "limit_request_field_size",
        "http",
        Int(64, 1048576, metavar="BYTES"),
        8190,
        "Longest single header field line (name and value) in bytes; past it, 431.",
        commands=BOTH,
    ),
    Setting(
        "limit_request_body",
        "http",
        Size(),
        100 * 1024**2,
        "Largest request body in bytes; 0 means unlimited; past it, 413.",
        commands=BOTH,
    ),
    Setting(
        "header_timeout",
        "http",
        Seconds(0, exclusive=True),
        10.0,
        "Seconds a client has to send a whole request head once it has started (or once "
        "the connection opened); past it, 408 and close.",
        commands=BOTH,
    ),
    Setting(
        "body_timeout",
        "http",
        Seconds(0, exclusive=True),
        30.0,
        "Most seconds the request body may stay silent while the app waits to read it.",
        commands=BOTH,
    ),
    Setting(
        "keepalive_timeout",
        "http",
        Seconds(0),
        5.0,
        "Seconds an idle connection is kept open between requests; 0 turns keep-alive off.",
        commands=BOTH,
    ),
    Setting(
        "max_pipelined",
        "http",
        Int(1, 1024),
        16,
        "Requests parsed ahead of the one being answered before reading from the "
        "connection pauses.",
        commands=BOTH,
    ),
    Setting(
        "write_buffer_high",
        "http",
        Size(low=1),
        64 * 1024,
        "Bytes buffered for a client past which the app is paused (high water mark).",
        commands=BOTH,
    ),
    Setting(
        "write_buffer_low",
        "http",
        Size(),
        16 * 1024,
        "Buffered bytes below which a paused app resumes writing (low water mark); "
        "at most write_buffer_high.",
        commands=BOTH,
    ),
    Setting(
        "server_header",
        "http",
        Bool(),
        True,
        "Send a 'Server: frontdesk' header in responses.",
        commands=BOTH,
    ),
    # --- proxy --------------------------------------------------------------------------
    Setting(
        "forwarded_allow_ips",
        "proxy",
        ListOf(Network(), split_commas=True),
        ("127.0.0.1", "::1"),
        "Peers trusted to report the client in Forwarded and X-Forwarded-* headers: IP "
        "addresses or networks, or * for any. A unix socket peer is always trusted.",
        commands=BOTH,
    ),
    Setting(
        "proxy_headers",
        "proxy",
        Bool(),
        True,
        "Take the client's address, scheme and host from the proxy headers of trusted peers.",
        toml="proxy.headers",
    ),
    # --- ws -----------------------------------------------------------------------------
    Setting(
        "ws",
        "ws",
        Choice("auto", "websockets", "none"),
        "auto",
        "WebSocket implementation; none refuses upgrades, auto uses websockets when installed.",
        toml="ws.implementation",
    ),
    Setting(
        "ws_max_size",
        "ws",
        Size(low=1),
        16 * 1024**2,
        "Largest incoming WebSocket message in bytes; past it, the connection is closed (1009).",
        toml="ws.max_size",
    ),
    Setting(
        "ws_ping_interval",
        "ws",
        Seconds(0),
        20.0,
        "Seconds between pings sent to a WebSocket client; 0 sends none.",
        toml="ws.ping_interval",
    ),
    Setting(
        "ws_ping_timeout",
        "ws",
        Seconds(0),
        20.0,
        "Seconds to wait for the answer to a ping before closing the connection; 0 waits "
        "indefinitely.",
        toml="ws.ping_timeout",
    ),
    Setting(
        "ws_per_message_deflate",
        "ws",
        Bool(),
        True,
        "Offer permessage-deflate compression to WebSocket clients.",
        toml="ws.per_message_deflate",
    ),
    Setting(
        "ws_max_queue",
        "ws",
        Int(low=1),
        32,
        "Incoming WebSocket messages buffered before reading from the connection pauses.",
        toml="ws.max_queue",
    ),
    # --- edge ---------------------------------------------------------------------------
    Setting(
        "static",
        "edge",
        ListOf(Str("PREFIX=DIR", metavar="PREFIX=DIR"), allow_empty=True),
        (),
        "Serve the files under DIR at the URL prefix PREFIX; repeat for several routes.",
        toml="edge.static",
        commands=("edge",),
    ),
    Setting(
        "proxy",
        "edge",
        ListOf(Str("an upstream URL", metavar="URL"), split_commas=True, allow_empty=True),
        (),
        "Upstream server (http://HOST:PORT or unix:PATH) for everything no static route "
        "serves; several form one balanced group.",
        toml="edge.proxy",
        commands=("edge",),
    ),
    Setting(
        "balance",
        "edge",
        Choice("round-robin", "least-conn", "hash-client"),
        "round-robin",
        "How the proxied group picks a server for each request.",
        toml="edge.balance",
        commands=("edge",),
    ),
    Setting(
        "health_path",
        "edge",
        Str("a URL path", metavar="PATH", allow_empty=True),
        "",
        "Probe each upstream server with GET PATH every few seconds and take failing ones "
        "out; empty: passive health only.",
        toml="edge.health_path",
        commands=("edge",),
    ),
    Setting(
        "certfile",
        "edge",
        Str("a file path", metavar="FILE", allow_empty=True),
        "",
        "TLS certificate chain (PEM); with --keyfile, the edge speaks HTTPS.",
        toml="edge.certfile",
        commands=("edge",),
    ),
    Setting(
        "keyfile",
        "edge",
        Str("a file path", metavar="FILE", allow_empty=True),
        "",
        "TLS private key (PEM) for --certfile.",
        toml="edge.keyfile",
        commands=("edge",),
    ),
    Setting(
        "self_signed",
        "edge",
        Bool(),
        False,
        "Speak HTTPS with a certificate generated at start for localhost (development).",
        toml="edge.self_signed",
        commands=("edge",),
    ),
    Setting(
        "hsts",
        "edge",
        Int(low=0),
        0,
        "Strict-Transport-Security max-age in seconds on HTTPS responses; 0 sends none.",
        toml="edge.hsts",
        commands=("edge",),
    ),
    Setting(
        "redirect_http",
        "edge",
        ListOf(BindText(), allow_empty=True),
        (),
        "Plain-HTTP addresses that answer every request with a permanent redirect to the same "
        "URL on https (the site itself is on --bind, with TLS); repeat for several.",
        toml="edge.redirect_http",
        commands=("edge",),
    ),
    Setting(
        "compress",
        "edge",
        Bool(),
        True,
        "Compress text-like responses with brotli or gzip, as the client accepts.",
        toml="edge.compress",
        commands=("edge",),
    ),
    Setting(
        "rate_limit",
        "edge",
        Rate(0),
        0.0,
        "Requests a second each client address may make (429 beyond); 0: no limit.",
        toml="edge.rate_limit",
        commands=("edge",),
    ),
    Setting(
        "rate_burst",
        "edge",
        Int(low=1),
        10,
        "Requests a client may make at once above the rate before it is limited.",
        toml="edge.rate_burst",
        commands=("edge",),
    ),
    Setting(
        "conn_limit",
        "edge",
        Int(low=0),
        0,
        "Requests in flight per client address (503 beyond); 0: no limit.",
        toml="edge.conn_limit",
        commands=("edge",),
    ),
    Setting(
        "allow",
        "edge",
        ListOf(Network(), split_commas=True, allow_empty=True),
        (),
        "Client networks allowed in; when set, every other client gets 403.",
        toml="edge.allow",
        commands=("edge",),
    ),
    Setting(
        "deny",
        "edge",
        ListOf(Network(), split_commas=True, allow_empty=True),
        (),
        "Client networks refused with 403 (checked before --allow).",
        toml="edge.deny",
        commands=("edge",),
    ),
    Setting(
        "edge_workers",
        "edge",
        WorkerCount(),
        1,
        "'frontdesk run': edge worker processes in front of the app workers (auto: one per "
        "CPU). 'frontdesk edge' counts its workers with --workers.",
        toml="edge.workers",
        commands=("run",),
    ),
    Setting(
        "status_path",
        "edge",
        Str("a URL path", metavar="PATH", allow_empty=True),
        "",
        "A path the edge answers itself with 200 ok, for load balancers' and orchestrators' "
        "probes (e.g. /healthz); empty: none.",
        toml="edge.status_path",
        commands=("edge", "run"),
    ),
    Setting(
        "server_timing",
        "edge",
        Bool(),
        True,
        "Add the edge's time (and the app server's queue and app times) to each response's "
        "Server-Timing header.",
        toml="edge.server_timing",
        commands=("edge", "run"),
    ),
    # --- log ----------------------------------------------------------------------------
    Setting(
        "log_level",
        "log",
        Choice("critical", "error", "warning", "info", "debug"),
        "info",
        "Least severe log messages shown; debug also shows tracebacks of errors.",
        toml="log.level",
        commands=BOTH,
    ),
    Setting(
        "log_file",
        "log",
        Str("a file path, or - for stderr", metavar="FILE"),
        "-",
        "File the log is appended to; - is stderr. SIGUSR1 reopens it (after log rotation).",
        toml="log.file",
    ),
    Setting(
        "access_log",
        "log",
        Bool(),
        False,
        "Log one line per request on the frontdesk.access logger (client, request line, "
        "status, body bytes, duration, request id), whatever --log-level says.",
        toml="log.access",
        commands=BOTH,
    ),
)

#: cross-setting rules, checked after all sources are merged
CONSTRAINTS: tuple[AtMost, ...] = (AtMost("write_buffer_low", "write_buffer_high"),)

SETTINGS_BY_NAME: dict[str, Setting[Any]] = {s.name: s for s in SETTINGS}
SETTINGS_BY_TOML_KEY: dict[str, Setting[Any]] = {s.toml_key: s for s in SETTINGS}
