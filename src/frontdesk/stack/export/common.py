"""What the exports share: the apps a config runs, and the command lines that run them.

Every export describes the same deployment as ``frontdesk run`` with the same config: the
apps come from APP or the file's ``[[apps]]`` (``stack.plan``), and the commands written into
the exported files are the ones a user would type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from frontdesk.config.layout import ServerEntry
from frontdesk.config.model import Config
from frontdesk.errors import ConfigError
from frontdesk.stack.plan import AppPlan, plan_stack

__all__ = [
    "DEFAULT_RUNTIME_DIR",
    "PlannedApp",
    "absolute_config_path",
    "command_line",
    "planned_apps",
    "seconds",
    "serve_command",
    "stop_grace",
]

#: where the exported nginx config expects each app's ``frontdesk serve`` socket by default:
#: a fixed, setting-independent place a service manager creates (systemd ``RuntimeDirectory``)
DEFAULT_RUNTIME_DIR = "/run/frontdesk"

#: seconds added to ``graceful_timeout`` before a service manager kills what still runs: the
#: arbiter's own bookkeeping after the workers' deadline (lifespan shutdown, socket cleanup)
STOP_MARGIN = 10


@dataclass(frozen=True, slots=True)
class PlannedApp:
    """One app of the stack with the socket its workers listen on."""

    plan: AppPlan
    socket: str

    @property
    def name(self) -> str:
        return self.plan.entry.name


def planned_apps(
    config: Config,
    app_path: str | None,
    runtime_dir: str,
    app_sockets: Mapping[str, str] | None = None,
) -> tuple[Config, tuple[PlannedApp, ...]]:
    """The edge's config and each app with its socket, as ``frontdesk run`` would plan them.

    ``app_sockets`` (app name -> socket path) replaces the planned ``RUNTIME_DIR/NAME.sock``
    of the apps it names; a name that is not an app of the stack is a ConfigError.
    """
    plan = plan_stack(config, app_path, runtime_dir)
    sockets = dict(app_sockets or {})
    names = {p.entry.name for p in plan.apps}
    unknown = sorted(set(sockets) - names)
    if unknown:
        raise ConfigError(
            f"app socket given for {', '.join(unknown)}: no such app "
            f"(apps: {', '.join(sorted(names))})"
        )
    apps = tuple(
        PlannedApp(p, os.path.abspath(sockets.get(p.entry.name, p.socket))) for p in plan.apps
    )
    return _with_sockets(plan.edge, apps), apps


def _with_sockets(edge: Config, apps: Sequence[PlannedApp]) -> Config:
    """The edge's app upstreams on the apps' sockets, stripping the mount the app serves at.

    The app server builds each path as its root path (the mount) plus what it receives, so
    the edge must not send the mount again: ``/api/x`` reaches an app mounted at ``/api/``
    as ``/x`` with root path ``/api``.
    """
    by_name = {app.name: app for app in apps}
    layout = edge.layout
    upstreams = tuple(
        dataclasses.replace(
            u,
            servers=(ServerEntry(f"unix:{by_name[u.name].socket}"),),
            strip_prefix=u.strip_prefix or bool(by_name[u.name].plan.config.root_path),
        )
        if u.name in by_name
        else u
        for u in layout.upstreams
    )
    return dataclasses.replace(edge, _layout=dataclasses.replace(layout, upstreams=upstreams))


def serve_command(app: PlannedApp, *, program: Sequence[str] = ("frontdesk",)) -> list[str]:
    """The ``frontdesk serve`` command line that runs ``app`` on its socket, as ``run`` does."""
    config = app.plan.config
    args = [*program, "serve", app.plan.entry.app, "-b", f"unix:{app.socket}"]
    args += ["--workers", str(config.workers)]
    if config.threads != 1:
        args += ["--threads", str(config.threads)]
    if config.interface != "auto":
        args += ["--interface", config.interface]
    if config.factory:
        args.append("--factory")
    if config.app_dir != ".":
        args += ["--app-dir", config.app_dir]
    if config.root_path:
        args += ["--root-path", config.root_path]
    return args


def command_line(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(arg) for arg in args)


def absolute_config_path(config_path: str | None) -> str | None:
    return None if config_path is None else os.path.abspath(config_path)


def seconds(value: float) -> int:
    """Whole seconds, rounded up: what unit files and manifests take."""
    return max(0, math.ceil(value))


def stop_grace(config: Config) -> int:
    """Seconds a graceful stop may take before a service manager may kill the rest."""
    return seconds(config.graceful_timeout) + STOP_MARGIN
