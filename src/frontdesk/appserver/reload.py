"""``--reload``: a watcher process that asks the arbiter for a rolling reload when files change.

It is a worker of its own pool (not replaced by reloads, not watched by the heartbeat): it
runs watchfiles over the app directory and the config file's directory, and sends SIGHUP to
the arbiter on every batch of changes to ``.py`` or ``.toml`` files. The reload itself is the
arbiter's usual one, so an edit that breaks the import leaves the running workers serving and
logs the error; the next save tries again.

watchfiles is optional (``pip install 'frontdesk[reload]'``) and imported only here.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from frontdesk.errors import ConfigError

from .process import WorkerContext, WorkerSpec
from .proctitle import set_title

__all__ = ["FileWatcher", "reloader_spec", "require_watchfiles"]

log = logging.getLogger("frontdesk.reload")

_MISSING = "--reload needs the watchfiles package: pip install 'frontdesk[reload]'"


def require_watchfiles() -> None:
    """ConfigError (one line) when watchfiles is not installed."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise ConfigError(_MISSING) from None


@dataclass(frozen=True)
class FileWatcher:
    """``WorkerSpec.run`` of the reloader pool."""

    paths: tuple[str, ...]

    @classmethod
    def for_dirs(cls, dirs: Iterable[str]) -> FileWatcher:
        return cls(tuple(sorted({os.path.abspath(d) for d in dirs})))

    def __call__(self, ctx: WorkerContext) -> int:
        try:
            import watchfiles
        except ImportError:
            return ctx.boot_failed(_MISSING)
        set_title("reloader", " ".join(self.paths))
        # Nothing to drain: TERM and INT end the watcher at once.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        watch_filter = watchfiles.PythonFilter(extra_extensions=(".toml",))
        log.info("watching %s for changes", ", ".join(self.paths))
        ctx.ready()
        for changes in watchfiles.watch(
            *self.paths,
            watch_filter=watch_filter,
            debounce=200,
            step=50,
            rust_timeout=1000,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            ctx.slot.beat()
            if not changes:
                continue
            names = sorted({os.path.relpath(path) for _, path in changes})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            log.info("%s changed; reloading", shown)
            os.kill(ctx.arbiter_pid, signal.SIGHUP)
        return 0


def reloader_spec(app_dirs: Iterable[str], config_path: str | None) -> WorkerSpec:
    """The ``reloader`` pool: one watcher over the app directories and the config file's.

    Not rolling (a reload keeps it) and not watched by the heartbeat (it has no event loop).
    """
    dirs = list(app_dirs)
    if config_path:
        dirs.append(os.path.dirname(os.path.abspath(config_path)))
    return WorkerSpec(
        "reloader", 1, FileWatcher.for_dirs(dirs), timeout=0, graceful_timeout=1.0, rolling=False
    )
