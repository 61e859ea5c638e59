"""The scenario registry. A scenario is one workload (a path to hit, the answer every server
must give) and the targets that serve it; adding one is a declaration at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench import stack_targets as st
from bench import targets as t
from bench.targets import Target


@dataclass(frozen=True)
class Expect:
    """The answer checked before a target is measured, so a broken server can't post a row."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"  # media type only; parameters such as charset are ignored
    length: int | None = None  # set: check the body's length instead of its bytes (large files)


@dataclass(frozen=True)
class Scenario:
    name: str
    targets: tuple[Target, ...]
    expect: Expect
    path: str = "/"
    reference: str = "frontdesk"  # the target every row's ratio is computed against
    # every request differs (wrk with bench/varied.lua adds a counter to the query): the
    # parse of each request is measured, not the replay of one sent again on its connection
    varied: bool = False

    def __post_init__(self) -> None:
        names = [target.name for target in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"scenario {self.name}: target names repeat: {names}")


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name} registered twice")
    SCENARIOS[scenario.name] = scenario
    return scenario


def select(tokens: Iterable[str] | None) -> list[tuple[Scenario, tuple[Target, ...]]]:
    """Scenarios and their targets picked by ``--only``.

    A token names a scenario (all its targets), a target in every scenario that has it, or one
    target of one scenario as ``scenario/target``. No tokens: everything.
    """
    wanted = {token.strip() for token in tokens or () if token.strip()}
    known = set(SCENARIOS)
    for scenario in SCENARIOS.values():
        known.update(target.name for target in scenario.targets)
        known.update(f"{scenario.name}/{target.name}" for target in scenario.targets)
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"unknown name(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    picked = []
    for scenario in SCENARIOS.values():
        chosen = tuple(
            target
            for target in scenario.targets
            if not wanted
            or scenario.name in wanted
            or target.name in wanted
            or f"{scenario.name}/{target.name}" in wanted
        )
        if chosen:
            picked.append((scenario, chosen))
    return picked


HELLO = b"Hello, world!"

register(
    Scenario(
        name="hello",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(
            t.frontdesk("bench.apps.hello_asgi:app"),
            t.uvicorn("bench.apps.hello_asgi:app"),
            t.granian("bench.apps.hello_asgi:app", "asgi"),
            t.gunicorn_asgi("bench.apps.hello_asgi:app"),
            t.nginx_return(200, HELLO.decode()),
        ),
    )
)

HELLO_WSGI = "bench.apps.hello_wsgi:app"

register(
    Scenario(
        name="hello-wsgi",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(
            t.frontdesk(HELLO_WSGI),
            t.gunicorn(HELLO_WSGI),
            t.gunicorn_gthread(HELLO_WSGI),
            t.granian(HELLO_WSGI, "wsgi"),
        ),
    )
)

FLASK = "bench.apps.flask_json:app"

register(
    Scenario(
        name="flask",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}\n',
            content_type="application/json",
        ),
        targets=(
            t.frontdesk(FLASK),
            t.gunicorn(FLASK),
            t.gunicorn_gthread(FLASK),
            t.granian(FLASK, "wsgi"),
        ),
    )
)

FASTAPI = "bench.apps.fastapi_json:app"

register(
    Scenario(
        name="fastapi-json",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}',
            content_type="application/json",
        ),
        targets=(
            t.frontdesk(FASTAPI),
            t.uvicorn(FASTAPI),
            t.gunicorn_asgi(FASTAPI),
            t.granian(FASTAPI, "asgi"),
        ),
    )
)


# Two workers each, under each server's own process manager. With --pin the whole server
# (arbiter and workers) shares cpu 0, so these rows compare process managers at equal CPU,
# not scaling; run with --no-pin on a machine with cores to spare to see scaling.
register(
    Scenario(
        name="fastapi-json-2w",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}',
            content_type="application/json",
        ),
        targets=(
            t.frontdesk_workers(FASTAPI, 2),
            t.gunicorn_uvicorn_worker(FASTAPI, 2),
            t.uvicorn_workers(FASTAPI, 2),
        ),
    )
)

register(
    Scenario(
        name="flask-2w",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}\n',
            content_type="application/json",
        ),
        targets=(
            t.frontdesk_workers(FLASK, 2),
            t.gunicorn_workers(FLASK, 2),
        ),
    )
)


# The edge against nginx, one process each (nginx: one worker). Both static targets serve the
# same files, written into their work dirs (bench.targets.STATIC_FILES).
register(
    Scenario(
        name="static-13b",
        path="/13b.txt",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(t.edge_static(), t.nginx_static()),
    )
)

register(
    Scenario(
        name="static-1mib",
        path="/1mib.txt",
        expect=Expect(
            status=200, length=len(t.STATIC_FILES["1mib.txt"]), content_type="text/plain"
        ),
        targets=(t.edge_static(), t.nginx_static()),
    )
)

# Each target proxies to its own nginx backend answering "Hello, world!" (same kind for all);
# the backend is a helper, so its CPU time is not counted in the row's CPU column. nginx twice:
# as it comes (no field set) and set up to do the same work as frontdesk's defaults (the
# forwarding fields and request id upstream, the id and Server-Timing back).
register(
    Scenario(
        name="proxy",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(t.edge_proxy(), t.nginx_proxy(), t.nginx_proxy_same_fields()),
    )
)


# The same two with every request different (a counter in the query), so frontdesk parses each
# one: its parser hands on a request sent again on the same connection without parsing it,
# and wrk sends one request over and over. Real clients mostly vary their requests.
register(
    Scenario(
        name="static-13b-varied",
        path="/13b.txt",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(t.edge_static(), t.nginx_static()),
        varied=True,
    )
)

register(
    Scenario(
        name="proxy-varied",
        expect=Expect(status=200, body=HELLO, content_type="text/plain"),
        targets=(t.edge_proxy(), t.nginx_proxy(), t.nginx_proxy_same_fields()),
        varied=True,
    )
)


# The headline: the whole stack against the stacks people deploy, wrk at the front door, two
# app workers each (bench/stack_targets.py says how each is set up).
register(
    Scenario(
        name="stack-flask",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}\n',
            content_type="application/json",
        ),
        targets=(st.frontdesk_run(FLASK, 2), st.nginx_gunicorn(FLASK, 2)),
        reference="frontdesk-run",
    )
)

register(
    Scenario(
        name="stack-fastapi",
        path="/items/1",
        expect=Expect(
            status=200,
            body=b'{"id":1,"name":"widget","tags":["a","b"]}',
            content_type="application/json",
        ),
        targets=(st.frontdesk_run(FASTAPI, 2), st.nginx_gunicorn_uvicorn(FASTAPI, 2)),
        reference="frontdesk-run",
    )
)
