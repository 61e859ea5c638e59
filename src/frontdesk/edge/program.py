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

import logging
import socket
from collections.abc import Callable, Sequence

from frontdesk.appserver.arbiter import Arbiter
from frontdesk.appserver.logfile import reopen_log_files
from frontdesk.appserver.privileges import Identity, resolve_identity
from frontdesk.appserver.process import WorkerSpec
from frontdesk.appserver.runtime import control_path
from frontdesk.config.model import Config
from frontdesk.errors import ConfigError
from frontdesk.observe.logging import setup_logging
from frontdesk.sockets import bind_socket

from .run import listening_url, validate
from .worker import EdgeWorker

__all__ = ["EdgeProgram", "run"]

log = logging.getLogger("frontdesk.arbiter")

#: read by the arbiter once, at start; a reload that changes them only warns
_AT_START_ONLY = ("pid_file", "control_socket")

_Pending = tuple[Config, dict[str, socket.socket], list[socket.socket], bool]


def run(config: Config, *, reload_config: Callable[[], Config]) -> int:
    """Run the arbiter for the edge until it is stopped; its exit status."""
    setup_logging(config.log_level)
    program = EdgeProgram(config, reload_config=reload_config)
    arbiter = Arbiter(
        program,
        control_path=control_path(config.control_socket),
        # As for serve: the default path may be another server's; a chosen one must work.
        control_required=config.control_socket.strip().lower() != "auto",
        pid_file=config.pid_file,
    )
    return arbiter.run()


class EdgeProgram:
    """The ``Program`` of ``frontdesk edge --workers N``."""

    def __init__(self, config: Config, *, reload_config: Callable[[], Config]) -> None:
        self.name = "edge"
        self.config = config
        self.reload_config = reload_config
        #: listeners by canonical bind text
        self.sockets: dict[str, socket.socket] = {}
        self.tls = False
        self.identity: Identity | None = None
        self._pending: _Pending | None = None
        self._announced: set[str] = set()

    # -- Program ---------------------------------------------------------------------------

    def start(self) -> Sequence[WorkerSpec]:
        config = self.config
        self.tls = validate(config)  # a bad route or certificate: one line, before any fork
        self.identity = resolve_identity(config.user, config.group)
        self.sockets, _ = _bind(config, {})
        return self._specs(config, self.sockets)

    def prepare_reload(self) -> Sequence[WorkerSpec]:
        config = self.reload_config()
        tls = validate(config)  # before binding anything: a refusal leaves nothing behind
        changed = [n for n in _AT_START_ONLY if getattr(config, n) != getattr(self.config, n)]
        if changed:
            log.warning("reload: %s only change on a restart", ", ".join(changed))
        identity = resolve_identity(config.user, config.group)
        sockets, fresh = _bind(config, self.sockets)
        self._pending = (config, sockets, fresh, tls)
        self.identity = identity
        return self._specs(config, sockets)

    def commit_reload(self) -> None:
        assert self._pending is not None
        config, sockets, _, tls = self._pending
        self._pending = None
        kept = {id(sock) for sock in sockets.values()}
        for text, sock in self.sockets.items():
            if id(sock) not in kept:
                log.info("no longer listening on %s", text)
                sock.close()
        self.sockets = sockets
        self.config = config
        if tls != self.tls:
            self._announced.clear()  # the same sockets, now announced with their new scheme
        self.tls = tls
        setup_logging(config.log_level)

    def abort_reload(self) -> None:
        if self._pending is not None:
            for sock in self._pending[2]:
                sock.close()
            self._pending = None
        self.identity = resolve_identity(self.config.user, self.config.group)

    def serving(self, first: bool) -> None:
        for sock in self.sockets.values():
            url = listening_url(sock, self.tls)
            if url not in self._announced:
                self._announced.add(url)
                log.info("listening on %s", url)

    def in_child(self, spec: WorkerSpec) -> None:
        keep = {id(s) for s in spec.run.sockets} if isinstance(spec.run, EdgeWorker) else set()
        every = list(self.sockets.values())
        if self._pending is not None:
            every += self._pending[2]
        for sock in every:
            if id(sock) not in keep:
                sock.close()

    def reopen_logs(self) -> None:
        reopen_log_files()

    def close(self) -> None:
        if self._pending is not None:
            self.abort_reload()
        for sock in self.sockets.values():
            sock.close()
        self.sockets = {}

    # -- helpers ---------------------------------------------------------------------------

    def _specs(self, config: Config, sockets: dict[str, socket.socket]) -> list[WorkerSpec]:
        worker = EdgeWorker(config, self.name, tuple(sockets.values()), self.identity)
        return [
            WorkerSpec(
                "edge",
                max(1, config.workers),
                worker,
                timeout=config.timeout,
                graceful_timeout=config.graceful_timeout,
                max_rss=config.max_rss * 1024**2,
                title=self.name,
            )
        ]


def _bind(
    config: Config, current: dict[str, socket.socket]
) -> tuple[dict[str, socket.socket], list[socket.socket]]:
    """Listeners for ``config.bind``: the current ones reused, the others bound now."""
    sockets: dict[str, socket.socket] = {}
    fresh: list[socket.socket] = []
    try:
        for address in config.bind_addresses:
            text = str(address)
            if text in current:
                sockets[text] = current[text]
            elif text not in sockets:
                sock = bind_socket(address, backlog=config.backlog, unix_mode=config.unix_mode)
                fresh.append(sock)
                sockets[text] = sock
    except ConfigError:
        for sock in fresh:
            sock.close()
        raise
    return sockets, fresh
