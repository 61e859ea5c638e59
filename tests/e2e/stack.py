"""The whole stack for end-to-end tests: ``frontdesk run``, the edge in front, app workers behind.

``start_stack(APP, cwd=DIR)`` runs ``frontdesk run APP -b 127.0.0.1:0 --workers N`` in DIR
(so DIR/static, when it exists, is served by the edge at /static/), waits (bounded) for its
``listening on http://...`` line and yields the base URL; on exit it sends TERM (KILL after a
bound) and asserts the stack exited with status 0. ``stack`` does the same and yields a
``Stack``, for tests that also read the log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ServerProcess

#: A loaded two-core machine may take a while to import Django in every worker.
START_TIMEOUT = 60.0
_EDGE_URL = r"listening on (http://\S+)"


@dataclass
class Stack:
    """A running ``frontdesk run``: the edge's base URL and the process."""

    url: str
    process: ServerProcess

    @property
    def output(self) -> str:
        """Everything the stack logged so far (the supervisor, the edge, the app workers)."""
        return self.process.output


@contextmanager
def stack(
    app_path: str,
    *,
    cwd: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[Stack]:
    """Like ``start_stack``, yielding the ``Stack`` (URL and log)."""
    args = ["run", app_path, "-b", "127.0.0.1:0", "--workers", str(workers), *extra_args]
    # No control socket: the default one is per user, and test runs may overlap.
    full_env = {"FRONTDESK_CONTROL_SOCKET": "none", **(env or {})}
    # ServerProcess.__exit__ stops it (TERM, then KILL) on every way out, failures included.
    with ServerProcess(args, cwd=cwd, env=full_env) as process:
        url = process.wait_for_line(_EDGE_URL, START_TIMEOUT).group(1).rstrip("/")
        yield Stack(url, process)
        code = process.stop()
        assert code == 0, f"frontdesk run exited with {code}; output:\n{process.output}"


@contextmanager
def start_stack(
    app_path: str,
    *,
    cwd: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Run the whole stack for ``app_path`` in ``cwd``; yield its base URL."""
    with stack(app_path, cwd=cwd, workers=workers, env=env, extra_args=extra_args) as running:
        yield running.url
