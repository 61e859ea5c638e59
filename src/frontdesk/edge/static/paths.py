"""From a request's percent-encoded path to a file system path that cannot leave the root.

The path is split on ``/`` *before* it is decoded, so an encoded slash (``%2F``) can never
become a separator; each segment is then percent-decoded exactly once and read as strict
UTF-8. A segment is refused when it decodes to something no file under the root may be named
through a URL:

- ``.`` or ``..`` (however spelled: ``..``, ``%2e%2e``, ``.%2E``): 404;
- one holding ``/``, ``\\`` (raw or encoded), NUL or another control character: 404;
- a malformed escape (``%zz``, ``%u002e``) or bytes that are not UTF-8 (``%c0%ae``): 400,
  because the request itself is malformed (RFC 3986 2.1, and URLs are UTF-8 here).

404 rather than 400 for the names: each is a syntactically valid URL naming no file we serve,
and the same answer as for a missing file tells a prober nothing (Starlette does the same).
Empty segments are dropped (``//`` merged into ``/``, as nginx's ``merge_slashes``), so no
segment is ever empty and no joined path is ever absolute by accident. File system paths are
built by concatenating the checked segments onto the directory, never with ``os.path.join``
(which restarts at an absolute component). The last line of defence, for symlinks, is in the
handler: the resolved path must lie under the resolved root (``realpath`` + ``commonpath``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from frontdesk.errors import ConfigError

# A percent sign not followed by two hex digits.
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Characters a decoded segment must not hold: separators of either platform, NUL, controls.
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")
# Kept as they are when a path is re-encoded for a Location field (RFC 3986 pchar).
_PCHAR_SAFE = "!$&'()*+,;=:@~"


class PathRefused(Exception):
    """The path names nothing this route may serve; ``status`` is the answer (400 or 404)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def decode_segment(raw: bytes) -> str:
    """One path segment, percent-decoded once and checked (see the module docstring)."""
    if b"%" in raw:
        if _BAD_ESCAPE.search(raw) is not None:
            raise PathRefused(400, "malformed percent-encoding")
        raw = unquote_to_bytes(raw)
    try:
        segment = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused(400, "path is not UTF-8") from None
    if segment == "." or segment == ".." or _FORBIDDEN.search(segment) is not None:
        raise PathRefused(404, "forbidden path segment")
    return segment


def split_path(raw: bytes) -> tuple[tuple[str, ...], bool]:
    """The decoded segments of an origin-form path, and whether it ends with a slash."""
    if not raw.startswith(b"/"):
        raise PathRefused(400, "path does not start with /")
    segments = tuple(decode_segment(part) for part in raw.split(b"/") if part)
    return segments, raw.endswith(b"/")


def encode_path(segments: tuple[str, ...], trailing_slash: bool) -> bytes:
    """Segments back to an absolute path for a Location field; never starts with ``//``."""
    text = "/" + "/".join(quote(segment, safe=_PCHAR_SAFE) for segment in segments)
    if trailing_slash and segments:
        text += "/"
    return text.encode("ascii")


def inside(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it (both absolute and resolved).

    Resolved paths are normalised (no ``.``, ``..`` or doubled separators), so a prefix test
    on whole components says the same as ``os.path.commonpath`` at a fraction of its cost
    (it runs for every request).
    """
    if path == directory:
        return True
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    return path.startswith(prefix)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a request path points: its file system path and how the URL spelled it."""

    #: the file system path (absolute, not yet resolved through symlinks)
    fs_path: str
    #: the URL's decoded segments, the mount's prefix included
    segments: tuple[str, ...]
    #: the URL ended with ``/`` (asks for a directory)
    trailing_slash: bool


class MountPoint:
    """A URL prefix mapped to a directory, like an nginx ``location`` with ``root`` or ``alias``.

    ``root``: the whole URL path is appended to the directory (``/static/a.css`` under root
    ``/srv/www`` is ``/srv/www/static/a.css``). ``alias``: the prefix is replaced by the
    directory (``/srv/assets/a.css`` for alias ``/srv/assets``). Prefixes match whole
    segments: ``/static/`` matches ``/static``, ``/static/`` and ``/static/a``, never
    ``/staticx`` (so an alias can never be extended into a sibling directory, the classic
    nginx ``alias`` misconfiguration).
    """

    __slots__ = ("_raw_exact", "_raw_prefix", "alias", "directory", "prefix", "segments")

    def __init__(
        self, prefix: str, directory: str | os.PathLike[str], *, alias: bool = False
    ) -> None:
        if not prefix.startswith("/"):
            raise ConfigError(f"static prefix {prefix!r} must start with /")
        try:
            segments, _ = split_path(quote(prefix, safe="/" + _PCHAR_SAFE).encode("ascii"))
        except PathRefused:
            raise ConfigError(f"static prefix {prefix!r} holds a forbidden segment") from None
        self.prefix = prefix
        self.segments = segments
        self.alias = alias
        self.directory = os.path.abspath(directory)
        exact = encode_path(segments, False)
        self._raw_exact = exact
        self._raw_prefix = exact if exact == b"/" else exact + b"/"

    def matches(self, path: bytes) -> bool:
        """Whether a request path (raw, percent-encoded) falls under this mount."""
        if path.startswith(self._raw_prefix) or path == self._raw_exact:
            return True
        if b"%" not in path and b"//" not in path:
            return False
        try:
            segments, _ = split_path(path)
        except PathRefused:
            return False
        return segments[: len(self.segments)] == self.segments

    def locate(self, path: bytes) -> Located:
        """The file system path a request path names; raises ``PathRefused``."""
        segments, trailing = split_path(path)
        count = len(self.segments)
        if segments[:count] != self.segments:
            raise PathRefused(404, "path outside this mount")
        relative = segments[count:] if self.alias else segments
        base = self.directory.rstrip("/")
        fs_path = base + "/" + "/".join(relative) if relative else self.directory
        return Located(fs_path, segments, trailing)
