"""Talking raw bytes to a server: send, then read until the server closes (bounded)."""

from __future__ import annotations

import socket
import time


def exchange(port: int, data: bytes, *, timeout: float = 10.0, half_close: bool = False) -> bytes:
    """Send ``data``, read until EOF or ``timeout``; returns everything received."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"server did not close within {timeout}s; got {b''.join(chunks)!r}")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
