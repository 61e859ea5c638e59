"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import pytest

try:
    import uvloop  # noqa: F401

    _LOOP_KINDS = ["asyncio", "uvloop"]
except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Linux
    _LOOP_KINDS = ["asyncio"]


@pytest.fixture(scope="session", params=_LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The event loop implementation a server under test runs on: every kind frontdesk uses."""
    return str(request.param)
