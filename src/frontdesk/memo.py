"""Bounded memos: answers computed once for inputs that repeat request after request.

Servers see the same few values again and again (a client's Host and Accept-Encoding, an
app's response heads, an upstream's Content-Type), so the hot paths keep what they worked out
about each in a dict. The inputs are chosen by clients and apps, so every memo is bounded:
when full it starts afresh, which keeps its memory fixed and lets it follow a traffic that
changes, at the cost of recomputing the few values in use.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, most: int) -> V:
    """Keep ``value`` under ``key`` in ``memo``, emptied first when it holds ``most``."""
    if len(memo) >= most:
        memo.clear()
    memo[key] = value
    return value
