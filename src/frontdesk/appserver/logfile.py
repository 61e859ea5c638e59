"""``--log-file``: frontdesk's log appended to a file, reopened on SIGUSR1 (log rotation).

The handler is installed before ``setup_logging`` runs and carries the same marker as the
stderr handler that function would add, so the file replaces stderr rather than doubling it.
Workers inherit the handler through the fork; each reopens its own copy on SIGUSR1, which the
arbiter forwards to them.
"""

from __future__ import annotations

import logging

from frontdesk.errors import ConfigError

__all__ = ["reopen_log_files", "use_log_file"]

_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


class _ReopeningFileHandler(logging.FileHandler):
    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


def use_log_file(path: str) -> None:
    """Send frontdesk's log to ``path`` ("-": leave it on stderr)."""
    if path == "-":
        return
    try:
        handler = _ReopeningFileHandler(path, mode="a", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--log-file {path}: cannot open: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._frontdesk = True  # type: ignore[attr-defined]
    root = logging.getLogger("frontdesk")
    for old in [h for h in root.handlers if getattr(h, "_frontdesk", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.propagate = False


def reopen_log_files() -> None:
    """Reopen every log file (after rotation moved it away); stderr is left alone."""
    for handler in logging.getLogger("frontdesk").handlers:
        if isinstance(handler, _ReopeningFileHandler):
            handler.reopen()
