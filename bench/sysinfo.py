"""The facts printed above every table: what ran, where, and when."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from bench import REPO_ROOT, tools


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip() if done.returncode == 0 else "?"


def environment(pin: bool) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "git": _git_revision(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": f"{cpu_model()} x {os.cpu_count()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "wrk": tools.wrk_version(),
        "uvloop": _dist_version("uvloop"),
        "httptools": _dist_version("httptools"),
        "pinning": (
            "server on cpu 0, wrk on cpu 1 (taskset)" if pin else "none (OS schedules freely)"
        ),
    }
