"""Bodies held by the proxy: in memory up to a bound, then in an anonymous temporary file.

Request bodies are read whole before anything goes upstream, so a slow client costs the proxy
a buffer, never an app worker; response bodies are read whole before the client gets them, so
the upstream connection (and the worker behind it) is free again as soon as the upstream is
done. Like nginx, the temporary files are written from the event loop: writes to a local
file land in the page cache and do not wait on the disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

from frontdesk.http.exchange import Exchange

#: bytes handed out per piece when a spooled file is read back
PIECE = 256 * 1024


class Spool:
    """Bytes appended in order, kept in memory up to ``memory_limit``, then in a file."""

    __slots__ = ("_file", "_parts", "memory_limit", "size", "temp_dir")

    def __init__(self, memory_limit: int, temp_dir: str | None = None) -> None:
        self.memory_limit = memory_limit
        self.temp_dir = temp_dir
        self.size = 0
        self._parts: list[bytes] = []
        self._file: BinaryIO | None = None

    @property
    def file(self) -> BinaryIO | None:
        """The temporary file once the bytes outgrew memory, else None."""
        return self._file

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        file = self._file
        if file is not None:
            file.write(data)
        elif self.size > self.memory_limit:
            file = self._file = tempfile.TemporaryFile(dir=self.temp_dir)  # noqa: SIM115
            file.write(b"".join(self._parts))
            file.write(data)
            self._parts = []
        else:
            self._parts.append(data)

    def getvalue(self) -> bytes:
        """All the bytes, when they are in memory."""
        if self._file is not None:
            raise ValueError("the body is in a file")
        parts = self._parts
        if len(parts) > 1:
            self._parts = parts = [b"".join(parts)]
        return parts[0] if parts else b""

    def flush(self) -> None:
        """Push file contents to the OS, so the file can be sent by its descriptor."""
        if self._file is not None:
            self._file.flush()

    def pieces(self) -> Iterator[bytes]:
        """The bytes from the start, in pieces of at most ``PIECE``."""
        file = self._file
        if file is None:
            yield self.getvalue()
            return
        file.flush()
        file.seek(0)
        while True:
            data = file.read(PIECE)
            if not data:
                return
            yield data

    def close(self) -> None:
        self._parts = []
        if self._file is not None:
            self._file.close()
            self._file = None


async def read_request_body(exchange: Exchange, spool: Spool) -> None:
    """Read the whole request body into ``spool``.

    Raises ProtocolError when the core refused the body (too large, timed out: it has answered
    the client itself) and ClientDisconnected when the client left.
    """
    while True:
        data = exchange.read_nowait()
        if data is None:
            data = await exchange.read()
        if not data:
            return
        spool.write(data)


async def stream_request_body(exchange: Exchange) -> AsyncIterator[bytes]:
    """The request body piece by piece, as the client sends it (no buffering)."""
    while True:
        data = await exchange.read()
        if not data:
            return
        yield data
