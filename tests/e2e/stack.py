"""The whole stack for end-to-end tests: the edge in front, app workers behind it.

``start_stack(APP, cwd=DIR)`` runs ``frontdesk run APP -b 127.0.0.1:0 --workers N`` in DIR,
waits (bounded) for the edge's ``listening on http://...`` line and yields its base URL; on
exit it sends TERM (KILL after a bound) and asserts the stack exited with status 0.

Until ``frontdesk run`` exists, the same stack is started as its two halves (see
``_start_pair``): ``frontdesk serve APP -b unix:SOCK --workers N`` and ``frontdesk edge
-b 127.0.0.1:0 --proxy unix:SOCK [--static /static/=DIR/static]``.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import ServerProcess, run_cli

#: A loaded two-core machine may take a while to import Django in every worker.
START_TIMEOUT = 60.0
_EDGE_URL = r"listening on (http://\S+)"


@functools.cache
def has_run_command() -> bool:
    """Whether this checkout's CLI has ``frontdesk run`` yet."""
    result = run_cli(["run", "--help"], timeout=60)
    return result.returncode == 0


@dataclass
class Stack:
    """A running stack: its base URL and the processes it is made of (one or two)."""

    url: str
    processes: list[ServerProcess] = field(default_factory=list)

    @property
    def output(self) -> str:
        """Everything the stack's processes logged so far."""
        return "\n".join(process.output for process in self.processes)


@contextmanager
def stack(
    app_path: str,
    *,
    cwd: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[Stack]:
    """Like ``start_stack``, yielding the ``Stack`` (URL and logs)."""
    starter = _start_run if has_run_command() else _start_pair
    with starter(app_path, cwd=cwd, workers=workers, env=env, extra_args=extra_args) as running:
        yield running


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


def _edge_url(process: ServerProcess) -> str:
    url = process.wait_for_line(_EDGE_URL, START_TIMEOUT).group(1)
    return url.rstrip("/")


def _stop(process: ServerProcess) -> None:
    """TERM, KILL after a bound (``ServerProcess.stop``), and insist on a clean exit."""
    code = process.stop()
    assert code == 0, f"{process.proc.args} exited with {code}; output:\n{process.output}"


@contextmanager
def _start_run(
    app_path: str,
    *,
    cwd: Path,
    workers: int,
    env: dict[str, str] | None,
    extra_args: Sequence[str],
) -> Iterator[Stack]:
    args = ["run", app_path, "-b", "127.0.0.1:0", "--workers", str(workers), *extra_args]
    with ServerProcess(args, cwd=cwd, env=_env(env)) as process:
        yield Stack(_edge_url(process), [process])
        _stop(process)


# TODO: switch to ``frontdesk run`` only and remove this once it has landed everywhere the
# tests run: ``stack`` already prefers it whenever ``frontdesk run --help`` succeeds.
@contextmanager
def _start_pair(
    app_path: str,
    *,
    cwd: Path,
    workers: int,
    env: dict[str, str] | None,
    extra_args: Sequence[str],
) -> Iterator[Stack]:
    """``frontdesk serve`` on a unix socket behind ``frontdesk edge``, as ``run`` would.

    ``extra_args`` go to ``serve`` (they are app-server settings such as ``--app-dir``).
    """
    # A short directory of its own: unix socket paths are limited to about 100 bytes.
    runtime = Path(tempfile.mkdtemp(prefix="fd-stack-"))
    socket = runtime / "app.sock"
    edge_args = ["edge", "-b", "127.0.0.1:0", "--proxy", f"unix:{socket}"]
    if (cwd / "static").is_dir():
        edge_args += ["--static", f"/static/={(cwd / 'static').resolve()}"]
    serve_args = ["serve", app_path, "-b", f"unix:{socket}", "--workers", str(workers)]
    serve_args += extra_args
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, runtime, ignore_errors=True)
        app = ServerProcess(serve_args, cwd=cwd, env=_env(env))
        cleanup.callback(app.stop)
        app.wait_for_line(re.escape(f"listening on unix:{socket}"), START_TIMEOUT)
        edge = ServerProcess(edge_args, cwd=cwd, env=_env(env))
        cleanup.callback(edge.stop)
        running = Stack(_edge_url(edge), [edge, app])
        yield running
        # Front to back, as ``run`` stops: the edge drains, then the app workers.
        _stop(edge)
        _stop(app)


def _env(env: dict[str, str] | None) -> dict[str, str]:
    # No control socket: the default one is per user, and tests may run side by side.
    return {"FRONTDESK_CONTROL_SOCKET": "none", **(env or {})}
