"""The config file's apps, upstreams, routes and certificates written back as TOML.

``frontdesk config`` prints them this way: each table with a comment saying where it was
written, and text that reads back to the same ``Layout``.
"""

from __future__ import annotations

from typing import Any

from frontdesk.config.layout import Layout
from frontdesk.config.types import toml_repr

__all__ = ["layout_as_toml"]


def layout_as_toml(layout: Layout) -> str:
    """The layout as TOML tables, each with a comment saying where it was written."""
    blocks: list[str] = []
    for index, app in enumerate(layout.apps):
        blocks.append(
            _table(
                "apps",
                layout.sources.get(f"apps[{index}]", ""),
                [
                    ("name", app.name),
                    ("app", app.app),
                    ("workers", app.workers),
                    ("threads", app.threads),
                    ("interface", app.interface),
                    ("factory", app.factory),
                    ("app_dir", app.app_dir),
                    ("mount", app.mount),
                    ("hosts", list(app.hosts)),
                    ("methods", list(app.methods) or None),
                ],
            )
        )
    for index, up in enumerate(layout.upstreams):
        servers = [
            s.address
            if (s.weight, s.max_conns) == (1, 0)
            else {"address": s.address, "weight": s.weight, "max_conns": s.max_conns}
            for s in up.servers
        ]
        blocks.append(
            _table(
                "upstreams",
                layout.sources.get(f"upstreams[{index}]", ""),
                [
                    ("name", up.name),
                    ("servers", servers),
                    ("balance", up.balance),
                    ("hash_key", up.hash_key),
                    ("health_path", up.health_path or None),
                    ("max_fails", up.max_fails),
                    ("fail_timeout", up.fail_timeout),
                    ("connect_timeout", up.connect_timeout),
                    ("read_timeout", up.read_timeout),
                    ("send_timeout", up.send_timeout),
                    ("max_tries", up.max_tries),
                    ("retry_timeout", up.retry_timeout),
                    ("retry_statuses", list(up.retry_statuses)),
                    ("health_interval", up.health_interval),
                    ("health_timeout", up.health_timeout),
                    ("health_rise", up.health_rise),
                    ("health_fall", up.health_fall),
                    ("queue_timeout", up.queue_timeout),
                    ("request_buffering", up.request_buffering),
                    ("response_buffering", up.response_buffering),
                    ("strip_prefix", up.strip_prefix),
                    ("mount", up.mount),
                    ("hosts", list(up.hosts)),
                    ("methods", list(up.methods) or None),
                ],
            )
        )
    for index, route in enumerate(layout.routes):
        blocks.append(
            _table(
                "edge.routes",
                layout.sources.get(f"edge.routes[{index}]", ""),
                [
                    ("prefix", route.prefix),
                    ("static", route.static),
                    ("upstream", route.upstream),
                    ("app", route.app),
                    ("hosts", list(route.hosts)),
                    ("alias", route.alias if route.static is not None else None),
                    ("cache_control", route.cache_control or None),
                    ("methods", list(route.methods) or None),
                ],
            )
        )
    for index, cert in enumerate(layout.certificates):
        blocks.append(
            _table(
                "edge.certificates",
                layout.sources.get(f"edge.certificates[{index}]", ""),
                [("certfile", cert.certfile), ("keyfile", cert.keyfile)],
            )
        )
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _table(name: str, source: str, items: list[tuple[str, Any]]) -> str:
    header = f"[[{name}]]" + (f"  # {source}" if source else "")
    lines = [header]
    for key, value in items:
        if value is None:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")
