"""Streaming compressors: gzip from the stdlib, brotli when the ``brotli`` package is there.

Each ``compress`` returns everything compressed so far, flushed to a byte boundary, so a
client can decode each piece as it arrives (a streamed response stays a stream); ``finish``
adds the last input and closes the stream.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any, Protocol

try:
    # Imported by name: the package ships no type information, and is optional.
    _brotli: Any = importlib.import_module("brotli")
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class Encoder(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def finish(self, data: bytes = b"") -> bytes: ...


class GzipEncoder:
    """gzip (RFC 1952) through zlib; a sync flush after each piece."""

    def __init__(self, level: int = 6) -> None:
        # wbits 16 + 15: the gzip wrapper around a 32 KiB-window deflate stream.
        self._z = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes = b"") -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_FINISH)


class BrotliEncoder:
    """brotli (RFC 7932); ``quality`` 4 keeps on-the-fly compression cheap."""

    def __init__(self, quality: int = 4) -> None:
        if _brotli is None:
            raise RuntimeError("the brotli package is not installed")
        self._c = _brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.flush()
        return out

    def finish(self, data: bytes = b"") -> bytes:
        out: bytes = self._c.process(data) + self._c.finish()
        return out


def available_codings() -> tuple[str, ...]:
    """The codings this installation can produce, in the order they are preferred."""
    return ("br", "gzip") if _brotli is not None else ("gzip",)


def make_encoder(coding: str, gzip_level: int = 6, brotli_quality: int = 4) -> Encoder:
    if coding == "br":
        return BrotliEncoder(brotli_quality)
    if coding == "gzip":
        return GzipEncoder(gzip_level)
    raise ValueError(f"unsupported content coding {coding!r}")
