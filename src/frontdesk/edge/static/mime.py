"""Content-Type from a file name: a table of web types first, then the stdlib's built-in table.

The stdlib's table is used through a private ``MimeTypes`` instance built from its defaults
only, so answers do not depend on the machine's ``/etc/mime.types``. The table here fixes or
adds what browsers need and older Pythons get wrong or lack (``.js`` is ``text/javascript``
per RFC 9239; ``.mjs``, ``.wasm``, ``.webp``, ``.avif``, ``.woff2``, ...). Compressed archives
(``.gz``, ``.br``) are types of their own: a file requested by that name is sent as is,
never with a Content-Encoding. Text types are declared UTF-8, like nginx's ``charset utf-8``;
anything unknown is ``application/octet-stream`` (nginx's ``default_type``).
"""

from __future__ import annotations

import mimetypes
import os
from functools import lru_cache

DEFAULT_TYPE = b"application/octet-stream"

WEB_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".jsonld": "application/ld+json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".vtt": "text/vtt",
    ".ics": "text/calendar",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".ico": "image/x-icon",
    ".bmp": "image/bmp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".br": "application/x-brotli",
    ".zst": "application/zstd",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".tar": "application/x-tar",
}

_STDLIB = mimetypes.MimeTypes()


@lru_cache(maxsize=512)
def _for_extension(extension: str) -> bytes:
    kind = WEB_TYPES.get(extension)
    if kind is None:
        kind = _STDLIB.types_map[True].get(extension) or _STDLIB.types_map[False].get(extension)
    if kind is None:
        return DEFAULT_TYPE
    if kind.startswith("text/"):
        kind += "; charset=utf-8"
    return kind.encode("ascii")


def content_type(name: str) -> bytes:
    """The Content-Type field value for a file called ``name`` (only its extension counts)."""
    return _for_extension(os.path.splitext(name)[1].lower())
