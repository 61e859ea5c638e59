"""Byte ranges (RFC 9110 14): the Range field parsed, resolved, coalesced; multipart framing.

Decisions, within what RFC 9110 14.2 and 14.6 allow:

- Only the ``bytes`` unit (case-insensitive). Another unit, a syntax error, or a range whose
  last position is before its first makes the whole field ignored: the answer is a 200 with
  the whole representation, never a guess.
- More than ``max_ranges`` range-specs (default 100) is taken as abuse and ignored the same
  way (nginx's ``max_ranges`` also answers 200).
- Ranges starting at or past the end are dropped; when none is left the answer is 416 with
  ``Content-Range: bytes */size``.
- The satisfiable ranges are sorted and coalesced when they overlap or lie closer than a
  part's framing costs (80 bytes). So ``bytes=0-,0-,0-`` is one range, and the parts sent can
  never add up to more than the file: the multipart amplification attack is impossible.
  What is left as one range is a plain 206; several are a ``multipart/byteranges`` 206.
- A zero-length file ignores Range (a 200 with an empty body): no byte range can be served
  from it, and RFC 9110 lets a server ignore Range.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

#: parts closer than this are merged: about what a part's own head costs on the wire
COALESCE_GAP = 80
# Positions longer than this are larger than any file; compared without building huge ints.
_MAX_DIGITS = 18
_BIG = 10**_MAX_DIGITS


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive first and last byte positions, both within the representation."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> bytes:
        return b"bytes %d-%d/%d" % (self.first, self.last, size)


def _position(text: bytes) -> int | None:
    if not text.isdigit():  # isdigit() on bytes: ASCII digits only
        return None
    return _BIG if len(text) > _MAX_DIGITS else int(text)


def parse_range(value: bytes, size: int, max_ranges: int = 100) -> tuple[ByteRange, ...] | None:
    """The ranges to send, coalesced and sorted; () when none is satisfiable (416);
    None when the field is to be ignored (send everything)."""
    unit, eq, spec = value.partition(b"=")
    if not eq or unit.strip().lower() != b"bytes" or size <= 0:
        return None
    members = [member.strip() for member in spec.split(b",")]
    members = [member for member in members if member]  # RFC 9110 5.6.1: empty list items
    if not members or len(members) > max_ranges:
        return None
    wanted: list[ByteRange] = []
    for member in members:
        first_text, dash, last_text = member.partition(b"-")
        if not dash:
            return None
        if not first_text:  # suffix-range: the last N bytes
            suffix = _position(last_text)
            if suffix is None:
                return None
            if suffix > 0:
                wanted.append(ByteRange(max(size - suffix, 0), size - 1))
            continue
        first = _position(first_text)
        if first is None:
            return None
        if last_text:
            last = _position(last_text)
            if last is None or last < first:
                return None
        else:
            last = size - 1
        if first < size:
            wanted.append(ByteRange(first, min(last, size - 1)))
    return coalesce(wanted)


def coalesce(ranges: list[ByteRange]) -> tuple[ByteRange, ...]:
    """Sorted, with overlapping and nearly adjacent ranges merged (RFC 9110 14.6 allows)."""
    merged: list[ByteRange] = []
    for item in sorted(ranges, key=lambda r: r.first):
        if merged and item.first <= merged[-1].last + 1 + COALESCE_GAP:
            if item.last > merged[-1].last:
                merged[-1] = ByteRange(merged[-1].first, item.last)
        else:
            merged.append(item)
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class Multipart:
    """A ``multipart/byteranges`` body laid out: each part's head, then its bytes; a tail."""

    content_type: bytes
    parts: tuple[tuple[bytes, ByteRange], ...]
    tail: bytes
    length: int


def multipart(ranges: tuple[ByteRange, ...], size: int, part_type: bytes) -> Multipart:
    """Lay out the body of a multi-range 206 (RFC 9110 14.6), its length known up front.

    The boundary is random, so no file can contain it by design (RFC 2046 5.1.1).
    """
    boundary = secrets.token_hex(12).encode("ascii")
    parts = []
    length = 0
    for index, item in enumerate(ranges):
        head = b"%s--%s\r\ncontent-type: %s\r\ncontent-range: %s\r\n\r\n" % (
            b"\r\n" if index else b"",
            boundary,
            part_type,
            item.content_range(size),
        )
        parts.append((head, item))
        length += len(head) + item.length
    tail = b"\r\n--%s--\r\n" % boundary
    return Multipart(
        b"multipart/byteranges; boundary=" + boundary, tuple(parts), tail, length + len(tail)
    )
