"""Response heads are checked once and remembered: the answers must be those of a fresh check."""

from __future__ import annotations

import pytest

from frontdesk.errors import LocalProtocolError
from frontdesk.http import prepared
from frontdesk.http.prepared import checked_head


def test_a_remembered_head_gives_the_same_answer_as_the_first_check() -> None:
    fields = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
    first = checked_head(200, fields)
    assert first == (b"HTTP/1.1 200 OK\r\n", b"content-type: text/plain\r\n", 13, False)
    assert checked_head(200, list(fields)) == first  # an equal list, another object
    assert checked_head(200, tuple(fields)) == first


def test_the_status_is_part_of_what_is_remembered() -> None:
    fields = [(b"content-length", b"0")]
    assert checked_head(200, fields)[2] == 0
    assert checked_head(204, fields) == (b"HTTP/1.1 204 No Content\r\n", b"", -1, False)


@pytest.mark.parametrize(
    "fields",
    [
        [(b"x-bad", b"a\r\nset-cookie: injected")],
        [(b"bad name", b"v")],
        [(b"content-length", b"12x")],
    ],
)
def test_a_bad_head_is_refused_every_time(fields: list[tuple[bytes, bytes]]) -> None:
    for _ in range(3):
        with pytest.raises(LocalProtocolError):
            checked_head(200, fields)


def test_statuses_are_checked_every_time() -> None:
    for _ in range(2):
        with pytest.raises(LocalProtocolError):
            checked_head(103, [])
        with pytest.raises(ValueError):
            checked_head(1000, [])


def test_unhashable_fields_are_checked_without_being_remembered() -> None:
    before = dict(prepared._CHECKED)
    given = [[b"x-list", b"1"], (b"x-buffer", bytearray(b"2"))]
    _, block, _, _ = checked_head(200, given)  # type: ignore[arg-type]
    assert block == b"x-list: 1\r\nx-buffer: 2\r\n"
    assert before == prepared._CHECKED


def test_a_generator_of_fields_is_read_once() -> None:
    given = ((b"x-n", b"%d" % n) for n in range(2))
    assert checked_head(200, given)[1] == b"x-n: 0\r\nx-n: 1\r\n"


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "_CHECKED", {})
    for n in range(prepared._CHECKED_MAX * 2 + 3):
        checked_head(200, [(b"etag", b'"%d"' % n)])
    assert 0 < len(prepared._CHECKED) <= prepared._CHECKED_MAX
