"""A bounded cache of file lookups and open descriptors, like nginx's ``open_file_cache``.

Each entry is one file system path: where it resolves (``realpath``), what ``stat`` said
(a file, a directory, missing, forbidden...) and, once a file is served, an open descriptor.
Negative answers are cached too (nginx's ``open_file_cache_errors on``), so a flood of
requests for a missing file costs one lookup per validity period.

- ``valid`` (seconds, default 1): an entry older than this is checked again before use;
  if the path now resolves elsewhere or its identity, size or mtime changed, the entry is
  replaced, so a changed file is noticed within ``valid`` seconds (nginx ``valid=``).
- ``max_entries`` (default 1000): least recently used entries are evicted past it;
  0 disables caching (every request looks up and opens afresh).
- ``inactive`` (seconds, default 60): entries unused this long are dropped, so descriptors
  of deleted files do not pin disk space for long (nginx ``inactive=``).

Descriptors are shared by concurrent responses: every reader uses explicit offsets
(``os.sendfile``'s offset, ``os.pread`` through ``FileView``), never the descriptor's shared
position. An entry counts the responses using its descriptor; eviction or replacement closes
it only once the last of them has released it.

The lookups are blocking system calls made on the event loop thread. On a local disk they
take microseconds and the cache makes them rare; nginx makes them inline too. (A network
file system would want a thread pool; that is not this layer's job yet.)

One cache belongs to one event loop: it is not thread-safe, and need not be.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable

# What a path turned out to be.
FILE, DIRECTORY, MISSING, FORBIDDEN, SPECIAL, FAILED = range(6)

# errnos that mean "no such file", whatever the path's shape.
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP})

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class Entry:
    """What one path is, as of its last check. Fields are read-only outside this module."""

    __slots__ = (
        "cached",
        "dev",
        "expires",
        "fd",
        "ino",
        "kind",
        "mtime_ns",
        "path",
        "real",
        "refs",
        "size",
        "used",
    )

    def __init__(self, path: str, real: str, kind: int, info: os.stat_result | None) -> None:
        self.path = path
        self.real = real
        self.kind = kind
        self.size = self.mtime_ns = self.dev = self.ino = 0
        if info is not None:
            self._take(info)
        self.fd = -1
        self.refs = 0
        self.cached = False
        self.expires = 0.0
        self.used = 0.0

    def _take(self, info: os.stat_result) -> None:
        self.size = info.st_size
        self.mtime_ns = info.st_mtime_ns
        self.dev = info.st_dev
        self.ino = info.st_ino

    def same_as(self, other: Entry) -> bool:
        return (
            self.kind == other.kind
            and self.real == other.real
            and self.ino == other.ino
            and self.dev == other.dev
            and self.size == other.size
            and self.mtime_ns == other.mtime_ns
        )

    def __repr__(self) -> str:
        return f"<Entry {self.path!r} kind={self.kind} size={self.size} fd={self.fd}>"


#: bytes one ``FileView.read`` returns at most. Below glibc's 128 KiB mmap threshold, so the
#: buffers of a large file's pieces come from (and go back to) the heap, instead of being
#: mapped, faulted in page by page and unmapped again for every piece.
READ_MAX = 124 * 1024


class FileView:
    """A read-only file over a shared descriptor, with a position of its own.

    Handed to ``Exchange.sendfile``: native sendfile uses only ``fileno()`` and its explicit
    offset; the copying path (uvloop, TLS) seeks and reads this view, which reads with
    ``os.pread`` and so never moves the descriptor's shared position.
    A read returns at most ``READ_MAX`` bytes (short reads are allowed; the copying path
    loops until it has its count).
    """

    __slots__ = ("_fd", "_position")

    mode = "rb"

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._position = 0

    def fileno(self) -> int:
        return self._fd

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = os.fstat(self._fd).st_size + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(os.fstat(self._fd).st_size - self._position, 0)
        data = os.pread(self._fd, min(size, READ_MAX), self._position)
        self._position += len(data)
        return data


class FileCache:
    """Lookups and descriptors by path; see the module docstring."""

    def __init__(
        self,
        max_entries: int = 1000,
        valid: float = 1.0,
        inactive: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or valid < 0 or inactive <= 0:
            raise ValueError("cache sizes and times must not be negative")
        self.max_entries = max_entries
        self.valid = valid
        self.inactive = inactive
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def open_descriptors(self) -> int:
        """Descriptors held by cached entries (those of evicted entries still in use aside)."""
        return sum(1 for entry in self._entries.values() if entry.fd >= 0)

    # -- lookups ---------------------------------------------------------------------------

    def lookup(self, path: str) -> Entry:
        """The entry for ``path``, checked again if older than ``valid``. Never raises OSError."""
        now = self.clock()
        self._drop_inactive(now)
        entries = self._entries
        entry = entries.get(path)
        if entry is not None:
            if now < entry.expires:
                entry.used = now
                entries.move_to_end(path)
                return entry
            fresh = self.probe(path)
            if fresh.same_as(entry):
                entry.expires = now + self.valid
                entry.used = now
                entries.move_to_end(path)
                return entry
            self._forget(entry)
        else:
            fresh = self.probe(path)
        fresh.expires = now + self.valid
        fresh.used = now
        if self.max_entries:
            fresh.cached = True
            entries[path] = fresh
            while len(entries) > self.max_entries:
                _, oldest = entries.popitem(last=False)
                self._retire(oldest)
        return fresh

    def probe(self, path: str) -> Entry:
        """Resolve and stat ``path`` now, bypassing the cache (no descriptor is opened)."""
        real = os.path.realpath(path)
        try:
            info = self._stat(real)
        except OSError as exc:
            return Entry(path, real, _error_kind(exc), None)
        if stat.S_ISREG(info.st_mode):
            kind = FILE
        elif stat.S_ISDIR(info.st_mode):
            kind = DIRECTORY
        else:
            kind = SPECIAL  # a FIFO, socket or device: never served
        return Entry(path, real, kind, info)

    # -- descriptors -----------------------------------------------------------------------

    def acquire(self, entry: Entry) -> int:
        """The entry's open descriptor, opened on first use; the caller must ``release`` it.

        Raises OSError when the file cannot be opened (PermissionError when unreadable); the
        entry then remembers the failure until it expires.
        """
        if entry.kind != FILE:
            raise FileNotFoundError(errno.ENOENT, "not a regular file", entry.path)
        if entry.fd < 0:
            try:
                fd = self._open(entry.real)
            except OSError as exc:
                entry.kind = _error_kind(exc)
                raise
            try:
                info = os.fstat(fd)
            except OSError:
                os.close(fd)
                raise
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                entry.kind = SPECIAL
                raise FileNotFoundError(errno.ENOENT, "not a regular file", entry.path)
            # The descriptor is the truth: the path may have been replaced since the stat.
            entry._take(info)
            entry.fd = fd
        entry.refs += 1
        return entry.fd

    def release(self, entry: Entry) -> None:
        entry.refs -= 1
        if entry.refs <= 0 and not entry.cached:
            _close(entry)

    def invalidate(self, entry: Entry) -> None:
        """Forget ``entry`` now (its file changed under a response)."""
        if entry.cached and self._entries.get(entry.path) is entry:
            self._forget(entry)

    def close(self) -> None:
        """Drop every entry; descriptors still in use close when released."""
        entries, self._entries = self._entries, OrderedDict()
        for entry in entries.values():
            self._retire(entry)

    # -- overridable system calls (tests inject failures here) ------------------------------

    def _stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def _open(self, path: str) -> int:
        return os.open(path, _OPEN_FLAGS)

    # -- internals -------------------------------------------------------------------------

    def _forget(self, entry: Entry) -> None:
        del self._entries[entry.path]
        self._retire(entry)

    def _retire(self, entry: Entry) -> None:
        entry.cached = False
        if entry.refs <= 0:
            _close(entry)

    def _drop_inactive(self, now: float) -> None:
        entries = self._entries
        limit = now - self.inactive
        while entries:
            oldest = next(iter(entries.values()))
            if oldest.used > limit:
                return
            self._forget(oldest)


def _error_kind(exc: OSError) -> int:
    if isinstance(exc, PermissionError):
        return FORBIDDEN
    if exc.errno in _MISSING_ERRNOS:
        return MISSING
    return FAILED


def _close(entry: Entry) -> None:
    fd, entry.fd = entry.fd, -1
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
