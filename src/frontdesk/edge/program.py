"""``frontdesk edge --workers N``: the edge as a program of the arbiter.

The arbiter core (``appserver/arbiter.py``) runs it as it runs the app server: this program
owns what outlives any worker, the listening sockets (bound once here) and the config in
force; its one pool, ``edge``, runs N ``EdgeWorker``s, each building its own site and TLS
context. Signals are the arbiter's: TERM/INT graceful, QUIT fast, TTIN/TTOU, USR1, and HUP:

A reload (HUP, ``frontdesk ctl reload``) re-reads the TOML file and the environment through
``reload_config`` (the flags stay), then builds the site and the TLS context once here. A
value that does not validate, a static root that is not a directory, a certificate that does
not load: the reload is refused (logged) and the current workers keep serving the old config.
A good config rolls a new generation in; the old workers drain once it is ready. A listener
whose address stays is kept (its queued connections with it), a new one is bound now, one no
longer wanted is closed once the new workers serve.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Sequence

from frontdesk.appserver.arbiter import arbiter_for
from frontdesk.appserver.listeners import Listeners
from frontdesk.appserver.logfile import reopen_log_files
from frontdesk.appserver.privileges import Identity, resolve_identity
from frontdesk.appserver.process import WorkerSpec, pool_spec
from frontdesk.config.model import Config
from frontdesk.observe.logging import setup_logging

from .run import listening_url, redirect_url, validate
from .worker import EdgeWorker

__all__ = ["EdgeProgram", "run"]

log = logging.getLogger("frontdesk.arbiter")

#: read by the arbiter once, at start; a reload that changes them only warns
_AT_START_ONLY = ("pid_file", "control_socket")


def run(config: Config, *, reload_config: Callable[[], Config]) -> int:
    """Run the arbiter for the edge until it is stopped; its exit status."""
    setup_logging(config.log_level)
    program = EdgeProgram(config, reload_config=reload_config)
    return arbiter_for(program, config.control_socket, config.pid_file).run()


def _redirect_config(config: Config) -> Config:
    """``config`` with the redirect listeners as its binds, for a ``Listeners`` to bind."""
    return dataclasses.replace(config, bind=config.redirect_http)


class EdgeProgram:
    """The ``Program`` of ``frontdesk edge --workers N``."""

    def __init__(self, config: Config, *, reload_config: Callable[[], Config]) -> None:
        self.name = "edge"
        self.config = config
        self.reload_config = reload_config
        self.listeners = Listeners()
        #: plain-HTTP listeners redirecting to https (``redirect_http``)
        self.redirects = Listeners()
        self.tls = False
        self.identity: Identity | None = None
        self._pending: tuple[Config, bool] | None = None

    # -- Program ---------------------------------------------------------------------------

    def start(self) -> Sequence[WorkerSpec]:
        config = self.config
        self.tls = validate(config)  # a bad route or certificate: one line, before any fork
        self.identity = resolve_identity(config.user, config.group)
        sockets = self.listeners.bind(config)
        try:
            redirects = self.redirects.bind(_redirect_config(config))
        except Exception:
            self.listeners.close()
            raise
        return self._specs(config, sockets, redirects)

    def prepare_reload(self) -> Sequence[WorkerSpec]:
        config = self.reload_config()
        tls = validate(config)  # before binding anything: a refusal leaves nothing behind
        changed = [n for n in _AT_START_ONLY if getattr(config, n) != getattr(self.config, n)]
        if changed:
            log.warning("reload: %s only change on a restart", ", ".join(changed))
        identity = resolve_identity(config.user, config.group)
        sockets = self.listeners.prepare(config)
        try:
            redirects = self.redirects.prepare(_redirect_config(config))
        except Exception:
            self.listeners.abort()
            raise
        self._pending = (config, tls)
        self.identity = identity
        return self._specs(config, sockets, redirects)

    def commit_reload(self) -> None:
        assert self._pending is not None
        config, tls = self._pending
        self._pending = None
        self.listeners.commit()
        self.redirects.commit()
        self.config = config
        if tls != self.tls:
            self.listeners.forget_announced()  # the same sockets, announced with a new scheme
        self.tls = tls
        setup_logging(config.log_level)

    def abort_reload(self) -> None:
        self.listeners.abort()
        self.redirects.abort()
        self._pending = None
        self.identity = resolve_identity(self.config.user, self.config.group)

    def serving(self, first: bool) -> None:
        self.listeners.announce(lambda sock: listening_url(sock, self.tls))
        self.redirects.announce(redirect_url)

    def in_child(self, spec: WorkerSpec) -> None:
        worker = spec.run if isinstance(spec.run, EdgeWorker) else None
        self.listeners.keep_only(worker.sockets if worker else ())
        self.redirects.keep_only(worker.redirects if worker else ())

    def reopen_logs(self) -> None:
        reopen_log_files()

    def close(self) -> None:
        self.listeners.close()
        self.redirects.close()

    # -- helpers ---------------------------------------------------------------------------

    def _specs(
        self,
        config: Config,
        sockets: dict[str, socket.socket],
        redirects: dict[str, socket.socket],
    ) -> list[WorkerSpec]:
        worker = EdgeWorker(
            config,
            self.name,
            tuple(sockets.values()),
            self.identity,
            tuple(redirects.values()),
        )
        return [pool_spec("edge", config, worker, self.name)]
