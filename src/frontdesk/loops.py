"""The event loop: uvloop where it is installed and supported, plain asyncio elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory(kind: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for ``asyncio.Runner``: "uvloop", "asyncio", or "auto" (uvloop if importable)."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop
