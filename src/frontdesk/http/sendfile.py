"""Zero-copy file bodies on loops without ``loop.sendfile`` (uvloop), for plain connections.

``os.sendfile`` goes straight to the socket, around the transport:

- ordering: bytes queued in the transport go first; the file is sent only once its buffer
  is empty (the transport's flow control, with both marks at 0, says when);
- back-pressure is the socket's: on EAGAIN or a partial send, wait until it is writable,
  polling a duplicate of its descriptor (the loop refuses to poll the one its transport
  owns), closed again before the send returns;
- the transport's descriptor is written only while the transport is open (once closed, its
  number may already belong to another connection), and a failed socket aborts it;
- a file shorter than the count raises ``LocalProtocolError`` (the caller ends the
  connection: the framing promised more).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, BinaryIO

from frontdesk.errors import ClientDisconnected, LocalProtocolError

if TYPE_CHECKING:
    from frontdesk.http.connection import HttpConnection

#: most bytes one ``os.sendfile`` call is asked for; between full pieces the loop gets a turn
PIECE = 4 * 1024 * 1024


def file_descriptor(file: BinaryIO) -> int:
    """The descriptor of ``file``, or -1 when it has none (an in-memory file)."""
    try:
        return file.fileno()
    except (AttributeError, OSError, ValueError):
        return -1


async def send_direct(
    conn: HttpConnection, prefix: bytes, sock_fd: int, file_fd: int, offset: int, count: int
) -> None:
    """Send ``prefix`` through the transport, then ``count`` bytes of ``file_fd`` from
    ``offset`` by ``os.sendfile`` on ``sock_fd`` (the transport's socket)."""
    transport = conn.transport
    assert transport is not None
    if prefix:
        conn.write(prefix)
    if transport.get_write_buffer_size():
        await flush(conn)
    spare = -1
    try:
        while count > 0:
            if conn.closed or transport.is_closing():
                raise ClientDisconnected("client disconnected")
            piece = min(count, PIECE)
            try:
                sent = os.sendfile(sock_fd, file_fd, offset, piece)
            except BlockingIOError:
                sent = -1
            except ConnectionError as exc:
                conn.abort()
                raise ClientDisconnected("client disconnected") from exc
            if sent == 0:
                raise LocalProtocolError("file shorter than the length being sent")
            if sent > 0:
                offset += sent
                count -= sent
                if count == 0:
                    break
                if sent == piece:
                    await asyncio.sleep(0)  # a fast reader: let the others have a turn
                    continue
            # The socket's buffer is full: wait until it drains.
            if spare < 0:
                spare = os.dup(sock_fd)
            await wait_writable(conn, spare)
    finally:
        if spare >= 0:
            os.close(spare)


async def flush(conn: HttpConnection) -> None:
    """Wait until the transport has handed every byte queued in it to the socket."""
    transport = conn.transport
    assert transport is not None
    limits = conn.limits
    transport.set_write_buffer_limits(0, 0)  # pauses the protocol if anything is queued
    try:
        if conn.write_paused:
            await _wait(conn, conn.loop.create_future())
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(limits.write_buffer_high, limits.write_buffer_low)


async def wait_writable(conn: HttpConnection, fd: int) -> None:
    """Wait until the socket (by a duplicate descriptor ``fd``) can take more bytes."""
    loop = conn.loop
    waiter = loop.create_future()
    loop.add_writer(fd, _wake, waiter)
    try:
        await _wait(conn, waiter)
    finally:
        loop.remove_writer(fd)


async def _wait(conn: HttpConnection, waiter: asyncio.Future[None]) -> None:
    """Await ``waiter`` as a drain waiter: woken by ``resume_writing`` (or its own
    callback), failed with ``ClientDisconnected`` when the connection is lost."""
    if conn.closed:
        raise ClientDisconnected("client disconnected")
    conn.add_drain_waiter(waiter)
    try:
        await waiter
    finally:
        conn.discard_drain_waiter(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
