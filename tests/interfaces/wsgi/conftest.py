"""Fixtures of the WSGI tests: both execution modes, both event loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

try:
    import uvloop

    _LOOPS: list[Callable[[], asyncio.AbstractEventLoop]] = [
        asyncio.new_event_loop,
        uvloop.new_event_loop,
    ]
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    _LOOPS = [asyncio.new_event_loop]


@pytest.fixture(params=[1, 4], ids=["inline", "threads"])
def threads(request: pytest.FixtureRequest) -> int:
    """The WSGI execution mode: 1 calls the app on the loop's thread, 4 in a thread pool."""
    return int(request.param)


@pytest.fixture(params=_LOOPS, ids=lambda f: f.__module__.split(".")[0])
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    return request.param  # type: ignore[no-any-return]
