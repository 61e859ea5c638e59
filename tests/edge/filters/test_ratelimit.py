"""Per-client rate limiting: exact counts on a controlled clock, the delaying queue, the bounded
table, and one run on real time."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from frontdesk.edge.filters import RateLimitFilter, TokenBuckets
from frontdesk.errors import ConfigError
from tests.edge.filters.support import Scripted, serve, text
from tests.support.raw import read_until_closed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_then_refilled_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a").admitted for _ in range(4)] == [True, True, True, False]
    assert buckets.take("a").wait == pytest.approx(0.5)  # one token comes in 1/rate seconds
    clock.now += 0.5
    assert buckets.take("a") == (True, 0.0)
    assert not buckets.take("a").admitted
    clock.now += 10  # refills up to the burst, not beyond
    assert [buckets.take("a").admitted for _ in range(4)] == [True, True, True, False]


def test_clients_have_their_own_buckets() -> None:
    buckets = TokenBuckets(rate=1, burst=1, clock=FakeClock())
    assert buckets.take("a").admitted and buckets.take("b").admitted
    assert not buckets.take("a").admitted and not buckets.take("b").admitted


def test_queue_delays_at_the_rate_then_refuses() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=4, burst=1, queue=2, clock=clock)
    assert buckets.take("a") == (True, 0.0)
    assert buckets.take("a") == (True, pytest.approx(0.25))
    assert buckets.take("a") == (True, pytest.approx(0.5))
    refused = buckets.take("a")
    assert not refused.admitted and refused.wait == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("a") == (True, pytest.approx(0.5))


def test_table_is_bounded_and_drops_idle_buckets_first() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1, burst=1, max_keys=100, clock=clock)
    for i in range(1000):
        buckets.take(f"client-{i}")
    assert len(buckets) == 100
    clock.now += 5  # all refilled: idle buckets go as new clients come
    for i in range(10):
        buckets.take(f"new-{i}")
    assert len(buckets) <= 100
    assert not buckets.take("new-9").admitted  # a recent client keeps its bucket


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": 1, "burst": 0}, {"rate": 1, "queue": -1}])
def test_bad_settings_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TokenBuckets(**kwargs)  # type: ignore[arg-type]


def test_server_counts_exactly_with_an_injected_clock() -> None:
    clock = FakeClock()
    handler = RateLimitFilter(Scripted(text), rate=1, burst=3, clock=clock)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = client.get("/")
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"].startswith("text/plain")
        clock.now += 2.5  # two and a half tokens
        statuses = [client.get("/").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert client.get("/").headers["retry-after"] == "1"  # 0.5 s, rounded up


def test_retry_after_counts_whole_seconds_at_slow_rates() -> None:
    clock = FakeClock()
    handler = RateLimitFilter(Scripted(text), rate=0.1, burst=1, clock=clock)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 200
        refused = client.get("/")
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "10")


def test_refusal_status_is_configurable_and_keeps_the_connection() -> None:
    handler = RateLimitFilter(Scripted(text), rate=1, burst=1, status=503, clock=FakeClock())
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 200
        assert client.get("/").status_code == 503
        assert client.get("/").status_code == 503


def test_queued_requests_are_delayed_and_the_rest_refused() -> None:
    """Four requests at one instant: one now, two held 0.1 s and 0.2 s, one refused."""
    handler = RateLimitFilter(Scripted(text), rate=10, burst=1, queue=2, clock=FakeClock())
    with serve(handler) as server:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
        try:
            started = time.monotonic()
            for sock in socks:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answers = []
            for sock in socks:
                answers.append((read_until_closed(sock), time.monotonic() - started))
        finally:
            for sock in socks:
                sock.close()
    statuses = sorted(int(data.split(b" ")[1]) for data, _ in answers)
    assert statuses == [200, 200, 200, 429]
    slowest_ok = max(took for data, took in answers if b" 200 " in data)
    assert slowest_ok >= 0.15  # the second queued request waited its 0.2 s turn


def test_real_time_refill() -> None:
    handler = RateLimitFilter(Scripted(text), rate=1, burst=1)
    with serve(handler) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 200
        # Within a second of the first (ample on a loaded machine: a keep-alive round trip).
        assert client.get("/").status_code == 429
        time.sleep(1.05)
        assert client.get("/").status_code == 200
