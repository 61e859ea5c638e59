"""Servers for the HTTP core tests: the echo handler on the corpus limits, per loop kind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from frontdesk.http import Exchange, HttpLimits
from frontdesk.http.echo import EchoHandler
from tests.http.http_testkit import CORPUS_LIMITS, Scripted, ServerThread

Script = Callable[[Exchange], Any]


@pytest.fixture(scope="session")
def corpus_server(loop_kind: str) -> Iterator[ServerThread]:
    server = ServerThread(EchoHandler(), CORPUS_LIMITS, loop_kind)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.errors == []


@pytest.fixture
def echo(corpus_server: ServerThread) -> Iterator[ServerThread]:
    """The session's echo server, checked after each test for errors the core logged."""
    before = len(corpus_server.errors)
    yield corpus_server
    assert corpus_server.errors[before:] == []


@pytest.fixture(scope="session", autouse=True)
def no_server_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("http-") and t.is_alive()]
    assert left == []


@pytest.fixture
def server(loop_kind: str) -> Iterator[Callable[[Script], tuple[ServerThread, Scripted]]]:
    """``server(script)``: a scripted server on this loop kind, stopped and checked after."""
    started: list[ServerThread] = []

    def make(script: Script) -> tuple[ServerThread, Scripted]:
        handler = Scripted(script)
        srv = ServerThread(handler, HttpLimits(keepalive_timeout=5), loop_kind)
        started.append(srv.start())
        return srv, handler

    yield make
    for srv in started:
        srv.stop()
        assert srv.errors == []
