"""Real backends shared by the proxy tests: two gunicorn processes and one uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.proxy.backends import gunicorn, uvicorn


@pytest.fixture(scope="session")
def gunicorn_urls() -> Iterator[tuple[str, str]]:
    first, first_url = gunicorn("g1")
    try:
        second, second_url = gunicorn("g2")
    except BaseException:
        first.stop()
        raise
    try:
        yield first_url, second_url
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="session")
def uvicorn_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sock = Path(tmp_path_factory.mktemp("uvicorn")) / "app.sock"
    process, url = uvicorn("u1", sock)
    try:
        yield url
    finally:
        process.stop()
