"""systemd integration: socket activation (``LISTEN_FDS``) and ``sd_notify`` status messages.

Both are a few lines of the documented protocols, written here rather than pulled in:

- socket activation: when ``LISTEN_PID`` is this process, ``LISTEN_FDS`` sockets start at file
  descriptor 3 (sd_listen_fds(3)); the variables are removed so that no child reads them again.
- notification: datagrams like ``READY=1`` sent to the unix socket named by ``NOTIFY_SOCKET``
  (a leading ``@`` is the abstract namespace) (sd_notify(3)). Without it, nothing is sent.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping

__all__ = ["LISTEN_FDS_START", "listen_sockets", "notify"]

LISTEN_FDS_START = 3


def listen_sockets(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets systemd passed to this process, or [] when it passed none."""
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    if not (pid.isdigit() and count.isdigit()) or int(pid) != os.getpid():
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    sockets = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)):
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def notify(*fields: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) to systemd; False if not under it."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    message = "\n".join(fields).encode("utf-8", "replace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, address)
    except OSError:
        return False
    return True


def monotonic_usec() -> str:
    """The ``MONOTONIC_USEC=`` field that must accompany ``RELOADING=1``."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
