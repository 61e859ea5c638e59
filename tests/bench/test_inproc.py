"""``bench.inproc`` measures what it says: each path answers its requests, 200 and whole."""

from __future__ import annotations

import pytest

from bench import inproc


@pytest.mark.parametrize("path", sorted(inproc.PATHS))
def test_each_path_answers_and_gives_a_cost(path: str) -> None:
    results = inproc.run(path, rounds=5, repeat=2)
    assert len(results) == 2
    assert all(0 < cost < 100_000 for cost in results)


@pytest.mark.parametrize("path", ["core", "proxy", "static"])
def test_varied_requests_are_answered(path: str) -> None:
    results = inproc.run(path, rounds=5, repeat=2, varied=True)
    assert all(0 < cost < 100_000 for cost in results)


def test_variants_differ_and_keep_the_rest_of_the_head() -> None:
    request = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    out = inproc.variants(request, 3)
    assert out == [
        b"GET /a?x=1&n=0 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a?x=1&n=1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a?x=1&n=2 HTTP/1.1\r\nHost: h\r\n\r\n",
    ]
    assert inproc.variants(b"GET / HTTP/1.1\r\n\r\n", 1) == [b"GET /?n=0 HTTP/1.1\r\n\r\n"]
