"""``Config``: the one frozen object holding every resolved setting, handed to every part.

Its fields repeat the names of ``SETTINGS`` so that mypy sees a typed attribute for each.
That is the only repetition, and tests/config/test_model.py fails when a declaration and a
field disagree in name or type, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from frontdesk.config.bind import BindAddress, parse_bind
from frontdesk.config.layout import Layout
from frontdesk.config.settings import SETTINGS, SETTINGS_BY_NAME, Setting

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Resolved settings. Build it with ``load_config``; see docs/settings.md for each field."""

    # server
    bind: tuple[str, ...]
    backlog: int
    app_dir: str
    unix_mode: int | None
    workers: int
    preload: bool
    reload: bool
    pid_file: str | None
    control_socket: str
    user: str | None
    group: str | None
    # app
    factory: bool
    interface: str
    root_path: str
    lifespan: str
    threads: int
    # worker
    loop: str
    limit_concurrency: int
    limit_max_requests: int
    max_requests_jitter: int
    max_rss: int
    timeout: float
    graceful_timeout: float
    # http
    limit_request_line: int
    limit_request_fields: int
    limit_request_field_size: int
    limit_request_body: int
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_pipelined: int
    write_buffer_high: int
    write_buffer_low: int
    server_header: bool
    # proxy
    forwarded_allow_ips: tuple[str, ...]
    proxy_headers: bool
    # ws
    ws: str
    ws_max_size: int
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_per_message_deflate: bool
    ws_max_queue: int
    # edge
    static: tuple[str, ...]
    proxy: tuple[str, ...]
    balance: str
    health_path: str
    certfile: str
    keyfile: str
    self_signed: bool
    hsts: int
    redirect_http: tuple[str, ...]
    compress: bool
    rate_limit: float
    rate_burst: int
    conn_limit: int
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    edge_workers: int
    status_path: str
    server_timing: bool
    # log
    log_level: str
    log_file: str
    access_log: bool

    # The file's apps, upstreams and routes (config/layout.py): lists of tables, not settings.
    _layout: Layout = field(default_factory=Layout, repr=False)

    # Where each value came from; a name missing here came from its default.
    _sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def source(self, name: str) -> str:
        """Where the value of setting ``name`` came from.

        One of ``"default"``, ``"file PATH:LINE"`` (or ``"file PATH"``), ``"env FRONTDESK_X"``,
        ``"cli --x"``. Raises KeyError for a name that is not a setting.
        """
        if name not in SETTINGS_BY_NAME:
            raise KeyError(name)
        return self._sources.get(name, "default")

    def items(self) -> Iterator[tuple[Setting[Any], Any]]:
        """Each setting's declaration with its resolved value, in declaration order."""
        for setting in SETTINGS:
            yield setting, getattr(self, setting.name)

    @property
    def layout(self) -> Layout:
        """The apps, upstream groups and edge routes of the config file."""
        return self._layout

    @property
    def bind_addresses(self) -> tuple[BindAddress, ...]:
        """``bind`` parsed; the loader has already validated every entry."""
        return tuple(parse_bind(text) for text in self.bind)
