"""Binding listen sockets from parsed ``--bind`` addresses.

Binding is the process manager's job (it binds once and hands the sockets to its workers),
so it lives beside, not inside, the HTTP core, which only accepts on sockets it is given.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from frontdesk.config.bind import BindAddress
from frontdesk.errors import ConfigError


def bind_socket(
    address: BindAddress, *, backlog: int = 2048, unix_mode: int | None = None
) -> socket.socket:
    """A bound, listening, non-blocking socket for ``address``; ConfigError when it cannot be."""
    try:
        if address.kind == "fd":
            assert address.fd is not None
            sock = socket.socket(fileno=address.fd)
        elif address.kind == "unix":
            assert address.path is not None
            sock = _bind_unix(address.path, unix_mode)
        else:
            assert address.host is not None and address.port is not None
            sock = _bind_tcp(address.host, address.port)
        sock.listen(backlog)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {describe(address)}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _bind_tcp(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "[::1]:8000" means IPv6 only; dual-stack is asked for with two binds.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_unix(path: str, mode: int | None) -> socket.socket:
    # A stale socket file from a dead server is replaced; any other file is not ours to delete.
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
    except OSError:
        sock.close()
        raise
    return sock


def describe(address: BindAddress) -> str:
    if address.kind == "unix":
        return f"unix:{address.path}"
    if address.kind == "fd":
        return f"fd://{address.fd}"
    host = f"[{address.host}]" if address.is_ipv6 else address.host
    return f"{host}:{address.port}"


def sock_url(sock: socket.socket) -> str:
    """How a bound socket is shown in the log: http://127.0.0.1:8000 or unix:/path."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    host, port = name[0], name[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def set_nodelay(transport: object) -> None:
    """Turn off Nagle's algorithm on a TCP transport: small responses go out at once."""
    get_extra_info = getattr(transport, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not a TCP socket after all (or already closed): nothing to tune
