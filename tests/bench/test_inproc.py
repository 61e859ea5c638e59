"""``bench.inproc`` measures what it says: each path answers its requests, 200 and whole."""

from __future__ import annotations

import pytest

from bench import inproc


@pytest.mark.parametrize("path", sorted(inproc.PATHS))
def test_each_path_answers_and_gives_a_cost(path: str) -> None:
    results = inproc.run(path, rounds=5, repeat=2)
    assert len(results) == 2
    assert all(0 < cost < 100_000 for cost in results)
