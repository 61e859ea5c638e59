"""``frontdesk serve APP --workers N``: the app server as a program of the arbiter.

It owns what outlives any worker: the listening sockets (bound once here, or received from
systemd), the preloaded app (``--preload``), the config in force and the one being tried by a
reload. Its pools: ``app`` (``AppWorker``, N of them) and, with ``--reload``, ``reloader``.

A reload (HUP) re-reads the config file and the environment through ``load_config``. A value
that does not validate refuses the reload (the arbiter logs it and keeps the workers). Bind
addresses may change: a listener whose address stays is kept as is (its queued connections
with it), a new one is bound now, one no longer wanted is closed once the new workers serve.
Settings the arbiter itself uses are read at start only; a reload that changes them says so.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

from frontdesk.config.model import Config
from frontdesk.errors import ConfigError
from frontdesk.interfaces.detect import Interface
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import sock_url

from . import systemd
from .arbiter import arbiter_for
from .listeners import Listeners
from .logfile import reopen_log_files
from .memory import freeze_startup_objects
from .privileges import Identity, resolve_identity
from .process import WorkerSpec, pool_spec
from .reload import reloader_spec, require_watchfiles
from .serve import load_app
from .worker import AppWorker

__all__ = ["AppServer", "run"]

log = logging.getLogger("frontdesk.arbiter")

#: read by the arbiter once, at start; a reload that changes them only warns
_AT_START_ONLY = ("preload", "reload", "pid_file", "control_socket", "log_file", "app_dir")


def run(
    config: Config,
    app_path: str,
    *,
    reload_config: Callable[[], Config],
    config_path: str | None = None,
) -> int:
    """Run the arbiter for APP until it is stopped; its exit status."""
    setup_logging(config.log_level)
    if config.reload and config.preload:
        raise ConfigError("--reload and --preload cannot be combined: preloaded code never reloads")
    if config.reload:
        require_watchfiles()
    program = AppServer(config, app_path, reload_config=reload_config, config_path=config_path)
    return arbiter_for(program, config.control_socket, config.pid_file).run()


class AppServer:
    """The ``Program`` of ``frontdesk serve --workers N``."""

    def __init__(
        self,
        config: Config,
        app_path: str,
        *,
        reload_config: Callable[[], Config],
        config_path: str | None = None,
        socket_activation: bool = True,
    ) -> None:
        self.name = app_path
        #: take systemd's sockets (LISTEN_FDS) when there are some; the stack's apps do not,
        #: their listeners are private unix sockets, not the public addresses systemd holds
        self.socket_activation = socket_activation
        self.config = config
        self.reload_config = reload_config
        self.config_path = config_path
        self.listeners = Listeners()
        self.activated = False
        self.preloaded: tuple[Interface, Any] | None = None
        self.identity: Identity | None = None
        self._pending_config: Config | None = None

    # -- Program ---------------------------------------------------------------------------

    def start(self) -> Sequence[WorkerSpec]:
        config = self.config
        self.identity = resolve_identity(config.user, config.group)
        if config.preload:
            self.preloaded = load_app(self.name, config)
            # What the app allocated at import is shared with every worker: keep the collector
            # from touching (and so copying) those pages in each of them.
            freeze_startup_objects()
        inherited = systemd.listen_sockets() if self.socket_activation else []
        if inherited:
            self.activated = True
            self.listeners.adopt({f"fd://{sock.fileno()}": sock for sock in inherited})
            log.info("using %d sockets passed by systemd; --bind is ignored", len(inherited))
        else:
            self.listeners.bind(config)
        return self._specs(config, self.listeners.current)

    def prepare_reload(self) -> Sequence[WorkerSpec]:
        config = self.reload_config()
        changed = [n for n in _AT_START_ONLY if getattr(config, n) != getattr(self.config, n)]
        if changed:
            log.warning("reload: %s only change on a restart", ", ".join(changed))
        identity = resolve_identity(config.user, config.group)
        sockets = self.listeners.prepare(config, rebind=not self.activated)
        self._pending_config = config
        self.identity = identity
        if self.preloaded is not None:
            log.info("reload: --preload is on, so the app's code stays as loaded at start")
        return self._specs(config, sockets)

    def commit_reload(self) -> None:
        config = self._pending_config
        assert config is not None
        self._pending_config = None
        self.listeners.commit()
        self.config = config
        setup_logging(config.log_level)

    def abort_reload(self) -> None:
        self.listeners.abort()
        self._pending_config = None
        self.identity = resolve_identity(self.config.user, self.config.group)

    def serving(self, first: bool) -> None:
        self.listeners.announce(sock_url)

    def in_child(self, spec: WorkerSpec) -> None:
        self.listeners.keep_only(spec.run.sockets if isinstance(spec.run, AppWorker) else ())

    def reopen_logs(self) -> None:
        reopen_log_files()

    def close(self) -> None:
        self.listeners.close()

    # -- helpers ---------------------------------------------------------------------------

    def _specs(self, config: Config, sockets: dict[str, socket.socket]) -> list[WorkerSpec]:
        worker = AppWorker(
            config, self.name, tuple(sockets.values()), self.identity, self.preloaded
        )
        specs = [pool_spec("app", config, worker, self.name)]
        if config.reload:
            specs.append(reloader_spec([config.app_dir], self.config_path))
        return specs
