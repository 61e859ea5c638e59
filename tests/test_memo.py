"""The bounded memo every hot-path cache uses."""

from __future__ import annotations

from frontdesk.memo import remember


def test_remember_stores_and_returns_the_value() -> None:
    memo: dict[str, int] = {}
    assert remember(memo, "a", 1, 4) == 1
    assert memo == {"a": 1}


def test_a_full_memo_starts_afresh_and_never_holds_more_than_its_bound() -> None:
    memo: dict[int, int] = {}
    for n in range(10):
        remember(memo, n, n * n, 4)
        assert len(memo) <= 4
    assert memo[9] == 81
    assert 0 not in memo
