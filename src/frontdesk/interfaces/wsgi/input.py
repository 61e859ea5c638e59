"""``wsgi.input`` for a body that arrives while the app reads it (threads mode).

Reads have the semantics of a buffered binary file, as PEP 3333 asks: ``read(n)`` returns
``n`` bytes unless the body ends first (frameworks such as Django read CONTENT_LENGTH bytes in
one call and trust the answer), ``read()`` the rest, ``readline``/``readlines``/iteration by
lines; b"" at the end of the body, also for a chunked body (which arrives decoded).

Memory is bounded by what the app asks for: the buffer holds at most the bytes requested plus
one piece of the body as the loop received it. ``fetch`` blocks the calling thread until the
next piece is in (it is the loop's ``Exchange.read``, which also sends ``100 Continue`` the
first time it has to wait) and returns b"" at the end.
"""

from __future__ import annotations

from collections.abc import Callable


class StreamInput:
    __slots__ = ("_buf", "_eof", "_fetch")

    def __init__(self, fetch: Callable[[], bytes], data: bytes = b"", eof: bool = False) -> None:
        self._fetch = fetch
        self._buf = bytearray(data)
        self._eof = eof

    def _fill(self) -> bool:
        """Append the next piece of the body to the buffer; False at the end of the body."""
        if self._eof:
            return False
        data = self._fetch()
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take(self, size: int) -> bytes:
        buf = self._buf
        if size >= len(buf):
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:size])
            del buf[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        buf = self._buf
        searched = 0
        while True:
            newline = buf.find(b"\n", searched)
            if newline >= 0:
                end = newline + 1
                break
            if 0 <= limit <= len(buf):
                end = limit
                break
            searched = len(buf)
            if not self._fill():
                end = len(buf)
                break
        if 0 <= limit < end:
            end = limit
        return self._take(end)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> StreamInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line
