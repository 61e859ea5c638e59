"""``wsgi.file_wrapper``: a file an app returns as its body, sent by ``sendfile`` when possible.

PEP 3333 "Optional Platform-Specific File Handling": the wrapper is an iterable of blocks (so
middleware that iterates it still works) whose ``close()`` closes the file. When the app
returns the wrapper itself and the file is a regular file with a descriptor, the server sends
it from its current position to its end (no more than a declared Content-Length) through the
core's ``Exchange.sendfile``, which uses ``os.sendfile`` where the loop and transport allow.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO


class FileWrapper:
    """``environ["wsgi.file_wrapper"](filelike, block_size=8192)``."""

    __slots__ = ("block_size", "filelike")

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        size = self.block_size
        while True:
            data = read(size)
            if not data:
                return
            yield data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def file_range(result: object, limit: int) -> tuple[BinaryIO, int, int] | None:
    """(file, offset, count) when ``result`` is a wrapper around a regular file, else None.

    ``limit`` is how many bytes the response may still carry (-1: no limit).
    """
    if type(result) is not FileWrapper:
        return None
    file = result.filelike
    try:
        info = os.fstat(file.fileno())
        offset = file.tell()
    except (AttributeError, OSError, ValueError):
        return None  # no descriptor (BytesIO, a socket file...): iterate it instead
    if not stat.S_ISREG(info.st_mode):
        return None
    count = max(info.st_size - offset, 0)
    if limit >= 0:
        count = min(count, limit)
    return file, offset, count
