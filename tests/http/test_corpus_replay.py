"""Replay the request corpus against a real listening server: whole, per line, per byte, at
random split points, and pipelined; valid requests must be parsed as their expectation says,
invalid ones answered with their status and the connection closed."""

from __future__ import annotations

import select

import pytest

from tests.http.http_testkit import (
    Client,
    CorpusCase,
    ServerThread,
    check_valid_response,
    load_corpus,
    split_points,
)

VALID = load_corpus("valid")
INVALID = load_corpus("invalid")
ALL = VALID + INVALID
SEEDS = [1, 2, 3, 4]
FOLLOW_UP = b"GET /follow-up HTTP/1.1\r\nHost: example.com\r\n\r\n"


def test_corpus_size() -> None:
    assert len(VALID) >= 60
    assert len(INVALID) >= 60
    for case in VALID:
        assert case.expect["status"] == 200
        assert not case.half_close
    for case in INVALID:
        assert case.expect["closed"] is True
        assert 400 <= case.expect["status"] <= 599


def _send(client: Client, case: CorpusCase, pieces: list[bytes]) -> None:
    if case.kind == "valid":
        client.send_pieces(pieces)
    else:
        # The server may answer an invalid request before it has all of it: stop sending then,
        # as a real client would, instead of writing into a connection being closed.
        for piece in pieces:
            readable, _, _ = select.select([client.sock], [], [], 0)
            if readable:
                break
            client.send_pieces([piece], tolerate_close=True)
    if case.half_close:
        client.half_close()


def replay(server: ServerThread, case: CorpusCase, pieces: list[bytes]) -> None:
    with Client(server.port) as client:
        _send(client, case, pieces)
        if case.kind == "invalid":
            response = client.read_response()
            assert response.status == case.expect["status"], (case.id, response.body)
            assert b"close" in response.connection_tokens()
            client.expect_eof()
            return
        interim, response = client.read_final(case.method)
        check_valid_response(case, interim, response)
        if case.closes:
            client.expect_eof()
        else:
            # Still usable: a second request on the same connection is answered.
            client.send(FOLLOW_UP)
            _, again = client.read_final()
            assert again.status == 200
            assert again.json()["target"] == "/follow-up"


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_whole(echo: ServerThread, case: CorpusCase) -> None:
    replay(echo, case, split_points(case.data, "whole"))


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_line_by_line(echo: ServerThread, case: CorpusCase) -> None:
    replay(echo, case, split_points(case.data, "lines"))


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_byte_by_byte(echo: ServerThread, case: CorpusCase) -> None:
    replay(echo, case, split_points(case.data, "bytes"))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_random_splits(echo: ServerThread, case: CorpusCase, seed: int) -> None:
    replay(echo, case, split_points(case.data, "random", seed))


# -- pipelining ---------------------------------------------------------------------------

PIPELINABLE = [case for case in VALID if not case.closes]


def test_pipeline_all_valid_in_one_write(echo: ServerThread) -> None:
    assert len(PIPELINABLE) > 50
    blob = b"".join(case.data for case in PIPELINABLE)
    with Client(echo.port) as client:
        client.send(blob)
        for case in PIPELINABLE:
            interim, response = client.read_final(case.method)
            check_valid_response(case, interim, response)
        assert client.is_open()


@pytest.mark.parametrize("seed", SEEDS)
def test_pipeline_all_valid_random_splits(echo: ServerThread, seed: int) -> None:
    blob = b"".join(case.data for case in PIPELINABLE)
    with Client(echo.port) as client:
        client.send_pieces(split_points(blob, "random", seed))
        for case in PIPELINABLE:
            interim, response = client.read_final(case.method)
            check_valid_response(case, interim, response)


def test_pipeline_ends_with_a_closing_request(echo: ServerThread) -> None:
    # RFC 9112 9.6: nothing after a request with "Connection: close" is processed.
    closing = next(case for case in VALID if case.name.endswith("http11-connection-close"))
    before = PIPELINABLE[:5]
    with Client(echo.port) as client:
        client.send(b"".join(c.data for c in before) + closing.data + PIPELINABLE[0].data)
        for case in [*before, closing]:
            interim, response = client.read_final(case.method)
            check_valid_response(case, interim, response)
        client.expect_eof()


PIPELINE_BREAKERS = [case for case in INVALID if not case.half_close]


@pytest.mark.parametrize("case", PIPELINE_BREAKERS, ids=lambda c: c.id)
def test_pipeline_with_invalid_in_the_middle(echo: ServerThread, case: CorpusCase) -> None:
    before = PIPELINABLE[3:6]
    after = PIPELINABLE[:2]
    with Client(echo.port) as client:
        client.send_pieces(
            [b"".join(c.data for c in before) + case.data + b"".join(c.data for c in after)],
            tolerate_close=True,
        )
        for valid in before:
            interim, response = client.read_final(valid.method)
            check_valid_response(valid, interim, response)
        response = client.read_response()
        assert response.status == case.expect["status"], case.id
        assert b"close" in response.connection_tokens()
        client.expect_eof()
