"""The supervisor of ``frontdesk run``: one arbiter over the edge's pool and each app's pool.

It composes the two programs the arbiter already runs, ``AppServer`` (one per app) and
``EdgeProgram``, rather than re-implementing them: each binds its own listeners (the apps'
unix sockets in a private runtime directory, the edge's public addresses), and this program
hands the arbiter all their pools at once, under names that say which app a worker serves.
The edge's pool has stop tier 0 and the apps' tier 1, so a graceful stop (TERM, INT, Ctrl-C)
first stops the edge from taking requests and lets it finish those it has, then drains the
app workers. A crashed worker of any pool is replaced by the arbiter like any other.

A reload (HUP, ``frontdesk ctl reload``) re-reads the config, plans the stack again and asks
every part to prepare its new generation; if any part refuses (a bad value, a certificate
that does not load), all of them are abandoned and the running stack keeps serving. The set
of apps is fixed at start: a reload that adds or removes an app is refused, since its
sockets and routes would change under the edge's feet.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence

from frontdesk.appserver.arbiter import arbiter_for
from frontdesk.appserver.logfile import reopen_log_files
from frontdesk.appserver.process import WorkerSpec
from frontdesk.appserver.program import AppServer
from frontdesk.appserver.reload import reloader_spec, require_watchfiles
from frontdesk.config.model import Config
from frontdesk.edge.program import EdgeProgram
from frontdesk.errors import ConfigError
from frontdesk.observe.logging import setup_logging

from .plan import StackPlan, plan_stack

__all__ = ["StackProgram", "run"]

log = logging.getLogger("frontdesk.arbiter")


def run(
    config: Config,
    app_path: str | None,
    *,
    reload_config: Callable[[], Config],
    config_path: str | None = None,
) -> int:
    """Run the whole stack until it is stopped; its exit status."""
    setup_logging(config.log_level)
    program = StackProgram(config, app_path, reload_config=reload_config, config_path=config_path)
    try:
        return arbiter_for(program, config.control_socket, config.pid_file).run()
    finally:
        program.remove_runtime()


class StackProgram:
    """The ``Program`` of ``frontdesk run``."""

    def __init__(
        self,
        config: Config,
        app_path: str | None,
        *,
        reload_config: Callable[[], Config],
        config_path: str | None = None,
    ) -> None:
        if config.reload:
            require_watchfiles()
        self.reload = config.reload
        self.config_path = config_path
        self.app_path = app_path
        self.reload_config = reload_config
        # Private (0700): only this user reaches the app sockets behind the edge.
        self.runtime = tempfile.mkdtemp(prefix="frontdesk-run-")
        self.plan = plan_stack(config, app_path, self.runtime)
        self.name = "run " + ",".join(p.entry.app for p in self.plan.apps)
        self.apps = [
            AppServer(
                p.config, p.entry.app, reload_config=_fixed(p.config), socket_activation=False
            )
            for p in self.plan.apps
        ]
        self.edge = EdgeProgram(self.plan.edge, reload_config=_fixed(self.plan.edge))
        self._pending: StackPlan | None = None

    @property
    def parts(self) -> list[AppServer | EdgeProgram]:
        return [*self.apps, self.edge]

    # -- Program ---------------------------------------------------------------------------

    def start(self) -> Sequence[WorkerSpec]:
        specs: list[WorkerSpec] = []
        for plan, app in zip(self.plan.apps, self.apps, strict=True):
            specs += _named(app.start(), plan.entry.name)
        specs += _edge_specs(self.edge.start())
        self._hand_runtime_to_workers()
        if self.reload:
            # One watcher for the whole stack: a change reloads both layers, like HUP.
            specs.append(
                reloader_spec([p.config.app_dir for p in self.plan.apps], self.config_path)
            )
        return specs

    def _hand_runtime_to_workers(self) -> None:
        """With --user/--group the workers are not the arbiter that bound the app sockets:
        the runtime directory and the sockets become theirs, still private to that user."""
        identity = self.edge.identity
        if identity is None or (identity.uid, identity.gid) == (os.getuid(), os.getgid()):
            return
        os.chown(self.runtime, identity.uid, identity.gid)
        for plan in self.plan.apps:
            os.chown(plan.socket, identity.uid, identity.gid)

    def prepare_reload(self) -> Sequence[WorkerSpec]:
        plan = plan_stack(self.reload_config(), self.app_path, self.runtime)
        before = [(p.entry.name, p.entry.app) for p in self.plan.apps]
        after = [(p.entry.name, p.entry.app) for p in plan.apps]
        if before != after:
            raise ConfigError("reload: the apps differ from those started; restart to change them")
        for app_plan, app in zip(plan.apps, self.apps, strict=True):
            app.reload_config = _fixed(app_plan.config)
        self.edge.reload_config = _fixed(plan.edge)
        specs: list[WorkerSpec] = []
        prepared: list[AppServer | EdgeProgram] = []
        try:
            for app_plan, app in zip(plan.apps, self.apps, strict=True):
                specs += _named(app.prepare_reload(), app_plan.entry.name)
                prepared.append(app)
            specs += _edge_specs(self.edge.prepare_reload())
        except Exception:
            for part in prepared:
                part.abort_reload()
            raise
        self._pending = plan
        return specs

    def commit_reload(self) -> None:
        for part in self.parts:
            part.commit_reload()
        if self._pending is not None:
            self.plan, self._pending = self._pending, None

    def abort_reload(self) -> None:
        for part in self.parts:
            part.abort_reload()
        self._pending = None

    def serving(self, first: bool) -> None:
        # Only the edge's addresses are the stack's; the apps' sockets are its inside.
        self.edge.serving(first)
        if first:
            for plan in self.plan.apps:
                log.info(
                    "app %s (%s): %d workers behind the edge at %s",
                    plan.entry.name,
                    plan.entry.app,
                    plan.config.workers,
                    plan.entry.mount
                    if not plan.entry.hosts
                    else f"{','.join(plan.entry.hosts)}{plan.entry.mount}",
                )

    def in_child(self, spec: WorkerSpec) -> None:
        for part in self.parts:
            part.in_child(spec)

    def reopen_logs(self) -> None:
        reopen_log_files()

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def remove_runtime(self) -> None:
        shutil.rmtree(self.runtime, ignore_errors=True)


def _fixed(config: Config) -> Callable[[], Config]:
    return lambda: config


def _named(specs: Sequence[WorkerSpec], app: str) -> list[WorkerSpec]:
    """The app server's pools, renamed for their app ("app" becomes "app:shop")."""
    return [
        dataclasses.replace(spec, pool=f"{spec.pool}:{app}", title=f"app {app}", stop_tier=1)
        for spec in specs
    ]


def _edge_specs(specs: Sequence[WorkerSpec]) -> list[WorkerSpec]:
    return [dataclasses.replace(spec, stop_tier=0) for spec in specs]
