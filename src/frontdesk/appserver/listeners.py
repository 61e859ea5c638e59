"""The listening sockets a program of the arbiter owns, across reloads.

Both programs (the app server's and the edge's) bind their listeners once, hand them to every
worker they fork, and on a reload keep the ones whose address stays (with the connections
queued on them), bind the new ones before the new workers start, and close the unwanted ones
only once the new workers serve. This class is that bookkeeping, written once.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable

from frontdesk.config.model import Config
from frontdesk.errors import ConfigError
from frontdesk.sockets import bind_socket

log = logging.getLogger("frontdesk.arbiter")


def bind_all(
    config: Config, current: dict[str, socket.socket]
) -> tuple[dict[str, socket.socket], list[socket.socket]]:
    """Listeners for ``config.bind``: the current ones reused, the others bound now.

    Returns them by canonical bind text, and the freshly bound ones apart (to close should the
    reload be abandoned). A bind that fails closes what this call bound and raises.
    """
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


class Listeners:
    """The sockets in force, and the ones a reload in progress would put in force."""

    def __init__(self) -> None:
        #: listeners in force, by canonical bind text (``fd://N`` for systemd's)
        self.current: dict[str, socket.socket] = {}
        self._pending: tuple[dict[str, socket.socket], list[socket.socket]] | None = None
        self._announced: set[str] = set()

    def bind(self, config: Config) -> dict[str, socket.socket]:
        self.current, _ = bind_all(config, {})
        return self.current

    def adopt(self, sockets: dict[str, socket.socket]) -> None:
        """Take sockets bound by someone else (systemd socket activation)."""
        self.current = sockets

    def prepare(self, config: Config, *, rebind: bool = True) -> dict[str, socket.socket]:
        """The listeners a reload to ``config`` would use; ``rebind=False`` keeps the current."""
        if rebind:
            sockets, fresh = bind_all(config, self.current)
        else:
            sockets, fresh = dict(self.current), []
        self._pending = (sockets, fresh)
        return sockets

    def commit(self) -> None:
        """The reload is done: close what it no longer listens on."""
        assert self._pending is not None
        sockets, _ = self._pending
        self._pending = None
        kept = {id(sock) for sock in sockets.values()}
        for text, sock in self.current.items():
            if id(sock) not in kept:
                log.info("no longer listening on %s", text)
                sock.close()
        self.current = sockets

    def abort(self) -> None:
        """The reload was abandoned: close what it bound."""
        if self._pending is not None:
            for sock in self._pending[1]:
                sock.close()
            self._pending = None

    def keep_only(self, keep: Iterable[socket.socket]) -> None:
        """In a forked child: close every listener but the ones its worker serves."""
        wanted = {id(sock) for sock in keep}
        every = list(self.current.values())
        if self._pending is not None:
            every += self._pending[1]
        for sock in every:
            if id(sock) not in wanted:
                sock.close()

    def announce(self, url: Callable[[socket.socket], str]) -> None:
        """Log each listener in force once (again after ``forget_announced``)."""
        for sock in self.current.values():
            text = url(sock)
            if text not in self._announced:
                self._announced.add(text)
                log.info("listening on %s", text)

    def forget_announced(self) -> None:
        self._announced.clear()

    def close(self) -> None:
        self.abort()
        for sock in self.current.values():
            sock.close()
        self.current = {}
