"""The project's own standards, checked with the suite: lint, format, strict types.

`scripts/check` runs the same tools directly; here they make CI fail when the code drifts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.processes import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the [test] extra")
def test_ruff_lint_clean() -> None:
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the [test] extra")
def test_ruff_format_clean() -> None:
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_has_the_two_fresh_machine_commands_and_ci_runs_the_second() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```sh\n")[1:]]
    assert len(blocks) == 2, blocks
    assert blocks[0].startswith("pip install") and "frontdesk" in blocks[0]
    assert blocks[1] == "pip install -e '.[test]' && pytest"
    ci = (REPO / ".ci" / "run").read_text()
    assert f'"{blocks[1]}"' in ci
