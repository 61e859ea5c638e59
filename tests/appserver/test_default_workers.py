"""``--workers`` defaults to one per CPU; WEB_CONCURRENCY and ``-w 0`` override it."""

from __future__ import annotations

import os

import httpx
import pytest

from frontdesk.config import load_config
from frontdesk.config.types import cpu_count
from tests.support.processes import ServerProcess


def test_default_is_the_cpu_count_and_web_concurrency_overrides_it() -> None:
    assert load_config().workers == cpu_count()
    assert load_config(env={"WEB_CONCURRENCY": "3"}).workers == 3
    # FRONTDESK_WORKERS wins over the field's convention, and the flag over both.
    env = {"WEB_CONCURRENCY": "3", "FRONTDESK_WORKERS": "2"}
    assert load_config(env=env).workers == 2
    assert load_config({"workers": "0"}, env).workers == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, cpu_count()), ({"WEB_CONCURRENCY": "3"}, 3)],
)
def test_serve_without_workers_flag_runs_an_arbiter_with_that_many(
    env: dict[str, str], expected: int
) -> None:
    if not env and ("WEB_CONCURRENCY" in os.environ or "FRONTDESK_WORKERS" in os.environ):
        pytest.skip("the environment sets the worker count")
    args = ["serve", "examples.hello_asgi:app", "-b", "127.0.0.1:0", "--control-socket", "none"]
    with ServerProcess(args, env=env) as server:
        url = server.url(30)
        server.wait_for_line(rf"running \S+ with {expected} workers", timeout=30)
        assert httpx.get(url + "/").status_code == 200
