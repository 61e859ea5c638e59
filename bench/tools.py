"""Finding the system tools the bench drives (wrk, nginx, taskset) and asking their versions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APT_HINT = "apt-get install wrk nginx-light"

# Debian puts nginx in /usr/sbin, which is not on a non-root user's PATH.
_EXTRA_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_DIRS:
        candidate = Path(directory, name)
        if candidate.is_file():
            return str(candidate)
    return None


def tool_output(argv: list[str], timeout: float = 10.0) -> str:
    """stdout and stderr of a short command, merged ("" if it cannot run)."""
    path = find_tool(argv[0])
    if path is None:
        return ""
    try:
        done = subprocess.run(
            [path, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def wrk_version() -> str:
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" (wrk -v exits 1).
    words = tool_output(["wrk", "-v"]).split()
    return words[1] if len(words) > 1 else "?"


def nginx_version() -> str:
    # "nginx version: nginx/1.22.1", on stderr.
    text = tool_output(["nginx", "-v"])
    return text.rpartition("/")[2] if "/" in text else "?"
