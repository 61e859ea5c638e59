"""Files an arbiter keeps while it runs: its pid file, and where its control socket lives.

The runtime directory is ``$XDG_RUNTIME_DIR/frontdesk`` when that variable is set (systemd
user sessions), else ``/tmp/frontdesk-UID``. It is created mode 0700; one that exists must be
owned by this user and not writable by others, or it is not used (another user could
otherwise plant a socket there).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping

from frontdesk.errors import ConfigError

__all__ = ["PidFile", "control_path", "runtime_dir"]


def runtime_dir(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    base = env.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base):
        return os.path.join(base, "frontdesk")
    return os.path.join(tempfile.gettempdir(), f"frontdesk-{os.getuid()}")


def control_path(setting: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The control socket path named by the ``control_socket`` setting; None for ``none``."""
    if setting.strip().lower() == "none":
        return None
    if setting.strip().lower() == "auto":
        return os.path.join(runtime_dir(environ), "control.sock")
    return setting


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (mode 0700) if missing; refuse one another user could write into."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: not a directory")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ConfigError(f"{path}: owned by another user or writable by others; not used")


class PidFile:
    """``--pid FILE``: written once the arbiter runs, removed when it exits (if still ours)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def create(self) -> None:
        other = self._read()
        if other is not None and other != os.getpid() and _alive(other):
            raise ConfigError(f"--pid {self.path}: names a running process ({other})")
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=".frontdesk-pid-")
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.path)  # never a half-written pid file
        except OSError as exc:
            raise ConfigError(f"--pid {self.path}: cannot write: {exc.strerror or exc}") from None

    def remove(self) -> None:
        if self._read() == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _read(self) -> int | None:
        try:
            with open(self.path) as f:
                text = f.read().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
