"""From one resolved config to the configs of the stack's parts: the edge and each app.

``frontdesk run`` describes the whole stack with one ``Config`` (flags, environment, the
TOML file and its ``[[apps]]``, ``[[upstreams]]`` and ``[[edge.routes]]``). The supervisor
runs the parts the existing programs already know how to run, each with a config of its own:

- each app: ``frontdesk serve APP`` listening on a unix socket in the stack's private runtime
  directory, with the app's own worker count, threads, interface and mount point;
- the edge: ``frontdesk edge`` on the stack's addresses (``bind``), with each app turned into
  an upstream group of that one socket, mounted where the app said, next to the file's own
  upstreams and routes, and ``./static`` at ``/static/`` when that directory exists.

Planning touches nothing but the file system's answers (is there a ./static?); binding and
forking are the programs' business.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from frontdesk.config.layout import (
    AppEntry,
    Layout,
    RouteEntry,
    ServerEntry,
    UpstreamEntry,
    default_app_name,
)
from frontdesk.config.model import Config
from frontdesk.errors import ConfigError

__all__ = ["AppPlan", "StackPlan", "app_entries", "plan_stack"]

#: where ``frontdesk run`` looks for static files when no route says otherwise
DEFAULT_STATIC_DIR = "static"
DEFAULT_STATIC_PREFIX = "/static/"
#: requests the edge sends an app at once, per worker (and thread): enough for the worker to
#: find the next one waiting as it finishes one, few enough that the rest wait at the edge
_REQUESTS_PER_WORKER = 16
#: seconds a request waits at the edge for a slot before it is sent past the cap anyway
_QUEUE_TIMEOUT = 0.1


@dataclass(frozen=True)
class AppPlan:
    entry: AppEntry
    config: Config  # the app server's config: its socket, workers, interface
    socket: str  # the unix socket path its workers listen on


@dataclass(frozen=True)
class StackPlan:
    edge: Config
    apps: tuple[AppPlan, ...]


def app_entries(config: Config, app_path: str | None) -> tuple[AppEntry, ...]:
    """The apps to run: APP from the command line, or the file's ``[[apps]]``, not both."""
    apps = config.layout.apps
    if app_path is not None:
        if apps:
            raise ConfigError(
                f"{apps[0].where}: APP {app_path} given and [[apps]] in the config file: "
                "give one or the other"
            )
        return (AppEntry(app=app_path, name=default_app_name(app_path), where="command line"),)
    if not apps:
        raise ConfigError(
            "nothing to run: give APP as MODULE:ATTRIBUTE (e.g. 'frontdesk run pkg.web:app') "
            "or [[apps]] in the config file"
        )
    return apps


def plan_stack(config: Config, app_path: str | None, runtime_dir: str) -> StackPlan:
    """The edge's and each app's config; ``runtime_dir`` holds the apps' sockets."""
    entries = app_entries(config, app_path)
    apps = tuple(_app_plan(config, entry, runtime_dir) for entry in entries)
    return StackPlan(_edge_config(config, apps), apps)


def _app_plan(config: Config, entry: AppEntry, runtime_dir: str) -> AppPlan:
    path = os.path.join(runtime_dir, f"{entry.name}.sock")
    workers = config.workers if entry.workers is None else entry.workers
    root_path = config.root_path
    if not root_path and entry.mount.rstrip("/"):
        root_path = entry.mount.rstrip("/")
    app_config = dataclasses.replace(
        config,
        bind=(f"unix:{path}",),
        unix_mode=0o600,
        # The stack always supervises: 0 ("no arbiter") means one worker here.
        workers=max(1, workers),
        threads=config.threads if entry.threads is None else entry.threads,
        interface=config.interface if entry.interface is None else entry.interface,
        factory=entry.factory or config.factory,
        app_dir=config.app_dir if entry.app_dir is None else entry.app_dir,
        root_path=root_path,
        # The supervisor owns these; the parts must not each claim them.
        reload=False,
        pid_file=None,
        control_socket="none",
        _layout=Layout(),
    )
    return AppPlan(entry, app_config, path)


def _edge_config(config: Config, apps: tuple[AppPlan, ...]) -> Config:
    layout = config.layout
    # Each app becomes an upstream group of its one socket; routes naming it follow.
    app_upstreams = tuple(
        UpstreamEntry(
            name=plan.entry.name,
            servers=(ServerEntry(_app_server(plan)),),
            mount=plan.entry.mount,
            hosts=plan.entry.hosts,
            methods=plan.entry.methods,
            # A worker is found again on the next request: the socket is the pool's, not a
            # single process's, so a failure must not take the whole app out of rotation.
            max_fails=0,
            # Mounted under a prefix: the edge strips it and the app server gives it back as
            # SCRIPT_NAME (ASGI: root_path), so the app's own routes need not know it.
            strip_prefix=bool(plan.entry.mount.rstrip("/")),
            where=plan.entry.where,
        )
        for plan in apps
    )
    routes = tuple(
        dataclasses.replace(route, app=None, upstream=route.app) if route.app else route
        for route in layout.routes
    )
    static = config.static
    if not static and _wants_default_static(layout.routes):
        static = (f"{DEFAULT_STATIC_PREFIX}={os.path.abspath(DEFAULT_STATIC_DIR)}",)
    return dataclasses.replace(
        config,
        workers=max(1, config.edge_workers),
        static=static,
        proxy=(),
        _layout=Layout(
            apps=(),
            upstreams=(*layout.upstreams, *app_upstreams),
            routes=routes,
            certificates=layout.certificates,
            sources=layout.sources,
        ),
    )


def _app_server(plan: AppPlan) -> str:
    """The edge's server entry for a WSGI app's socket, with a cap on the requests sent at once.

    All of an app's workers accept on its one socket, and a kept-alive connection stays with
    the worker that accepted it. Without a cap the edge writes every request at once, each
    on some pooled connection, where it waits for that connection's worker, busy or not (a
    WSGI worker serves one request at a time, or one per thread). With ``max_conns`` the
    rest wait at the edge, first come first served, for the first slot to free: one queue
    for all the workers, as gunicorn's accept queue is. An ASGI app serves many requests at
    once and is better fed whole batches, so the cap waits until the app server says which
    interface it runs (``wsgi_only``: the edge asks with ``Frontdesk-Trace``), unless the
    config says so. ``overflow`` keeps the cap soft: slow requests holding every slot delay
    the others by ``queue_timeout`` at most.
    """
    config = plan.config
    address = f"unix:{plan.socket}"
    if config.interface not in ("auto", "wsgi"):
        return address
    cap = config.workers * max(1, config.threads) * _REQUESTS_PER_WORKER
    when = " wsgi_only" if config.interface == "auto" else ""
    return f"{address} max_conns={cap}{when} queue_timeout={_QUEUE_TIMEOUT} overflow"


def _wants_default_static(routes: tuple[RouteEntry, ...]) -> bool:
    if not os.path.isdir(DEFAULT_STATIC_DIR):
        return False
    return not any(
        route.prefix.rstrip("/") == DEFAULT_STATIC_PREFIX.rstrip("/") for route in routes
    )
