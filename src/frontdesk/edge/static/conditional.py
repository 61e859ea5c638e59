"""Conditional requests (RFC 9110 13): validators compared, preconditions in their order.

The order is RFC 9110 13.2.2's, and each later step applies only when the earlier field is
absent:

1. If-Match (strong comparison; ``*`` matches any current representation), false: 412;
2. else If-Unmodified-Since, the representation changed after the date: 412;
3. If-None-Match (weak comparison, lists, ``*``), a match: 304 for GET and HEAD;
4. else If-Modified-Since (GET and HEAD only), not changed since the date: 304;
5. If-Range, evaluated by the range logic: false means "send the whole representation".

A date field that is not a valid HTTP-date, that holds several dates, or (If-Modified-Since)
that lies in the server's future is ignored, as RFC 9110 13.1.3 allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.edge.static.httpdate import parse_http_date

#: the parsed form of ``*``
ANY = None


@dataclass(frozen=True, slots=True)
class EntityTag:
    weak: bool
    #: the opaque tag with its double quotes, e.g. b'"5f-1a"'
    opaque: bytes


def parse_etag_list(value: bytes) -> list[EntityTag] | None:
    """``*`` as ``ANY`` (None), else the entity-tags of a list (RFC 9110 8.8.3, 5.6.1).

    Commas may appear inside a quoted tag, so the list is scanned, not split. Parsing stops
    at the first malformed member; what was read before it still counts.
    """
    value = value.strip()
    if value == b"*":
        return ANY
    tags: list[EntityTag] = []
    i, size = 0, len(value)
    while i < size:
        char = value[i : i + 1]
        if char in (b" ", b"\t", b","):
            i += 1
            continue
        weak = value.startswith(b"W/", i)
        if weak:
            i += 2
        if value[i : i + 1] != b'"':
            break
        end = value.find(b'"', i + 1)
        if end == -1:
            break
        tags.append(EntityTag(weak, value[i : end + 1]))
        i = end + 1
    return tags


def parse_etag(value: bytes) -> EntityTag | None:
    """A single entity-tag (If-Range), or None when the value is not exactly one."""
    tags = parse_etag_list(value)
    if tags is None or len(tags) != 1:
        return None
    tag = tags[0]
    rebuilt = (b"W/" if tag.weak else b"") + tag.opaque
    return tag if rebuilt == value.strip() else None


def strong_match(tag: EntityTag, current: bytes) -> bool:
    """RFC 9110 8.8.3.2: both strong and the same opaque tag (``current`` is ours, strong)."""
    return not tag.weak and tag.opaque == current


def weak_match(tag: EntityTag, current: bytes) -> bool:
    return tag.opaque == current


@dataclass(frozen=True, slots=True)
class Conditions:
    """The request's conditional fields (list fields joined), as received; None when absent."""

    if_match: bytes | None = None
    if_none_match: bytes | None = None
    if_modified_since: bytes | None = None
    if_unmodified_since: bytes | None = None
    if_range: bytes | None = None


def _single_date(value: bytes | None, now: int) -> int | None:
    if value is None:
        return None
    return parse_http_date(value, now=now)


def evaluate(
    conditions: Conditions, method: str, etag: bytes, last_modified: int, now: int
) -> int | None:
    """412 or 304 when a precondition decides the answer, else None (go on: 200 or 206).

    ``etag`` is the selected representation's strong tag, ``last_modified`` its
    Last-Modified in seconds, ``now`` the server's clock in seconds.
    """
    if conditions.if_match is not None:
        tags = parse_etag_list(conditions.if_match)
        if tags is not ANY and not any(strong_match(tag, etag) for tag in tags):
            return 412
    else:
        date = _single_date(conditions.if_unmodified_since, now)
        if date is not None and last_modified > date:
            return 412
    if conditions.if_none_match is not None:
        tags = parse_etag_list(conditions.if_none_match)
        if tags is ANY or any(weak_match(tag, etag) for tag in tags):
            # RFC 9110 13.1.2: 304 for GET/HEAD; other methods would get 412, but only GET
            # and HEAD reach a static route.
            return 304 if method in ("GET", "HEAD") else 412
    elif method in ("GET", "HEAD"):
        date = _single_date(conditions.if_modified_since, now)
        if date is not None and date <= now and last_modified <= date:
            return 304
    return None


def if_range_holds(value: bytes, etag: bytes, last_modified: int, now: int) -> bool:
    """RFC 9110 13.1.5: whether a Range may be honoured under this If-Range value.

    An entity-tag must match strongly (a weak tag never does). A date must equal the
    Last-Modified exactly and be a strong validator: the file was last changed at least a
    second ago, so no second change can hide inside the same second (RFC 9110 8.8.2.2).
    Anything else (malformed included) is false: the client gets the whole representation,
    which is always safe, where a wrong 206 would splice two versions of a file.
    """
    value = value.strip()
    if value.startswith((b'"', b"W/")):
        tag = parse_etag(value)
        return tag is not None and strong_match(tag, etag)
    date = parse_http_date(value, now=now)
    return date is not None and date == last_modified and last_modified < now
