"""HTTP dates (RFC 9110 5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in.

Parsing is strict about shape (names are case-sensitive, as the grammar says) and answers
None for anything else, so a malformed validator is ignored rather than guessed at.
"""

from __future__ import annotations

import calendar
import functools
import re
import time

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.encode("ascii"): number for number, name in enumerate(_MONTHS, 1)}
_MONTH = rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = rb"(\d\d):(\d\d):(\d\d)"

# Sun, 06 Nov 1994 08:49:37 GMT
_IMF = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) " + _MONTH + rb" (\d{4}) " + _TIME + rb" GMT\Z"
)
# Sunday, 06-Nov-94 08:49:37 GMT
_RFC850 = re.compile(
    rb"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-"
    + _MONTH
    + rb"-(\d\d) "
    + _TIME
    + rb" GMT\Z"
)
# Sun Nov  6 08:49:37 1994
_ASCTIME = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) " + _MONTH + rb" ([ \d]\d) " + _TIME + rb" (\d{4})\Z"
)


@functools.lru_cache(maxsize=4096)
def format_http_date(seconds: int) -> bytes:
    """``seconds`` since the epoch as an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    ).encode("ascii")


def parse_http_date(value: bytes, *, now: float | None = None) -> int | None:
    """Seconds since the epoch, or None when ``value`` is not an HTTP-date."""
    value = value.strip()
    match = _IMF.match(value)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    match = _RFC850.match(value)
    if match is not None:
        day, month, short_year, hour, minute, second = match.groups()
        return _timestamp(_full_year(int(short_year), now), month, day, hour, minute, second)
    match = _ASCTIME.match(value)
    if match is not None:
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, day.strip(), hour, minute, second)
    return None


def _full_year(short: int, now: float | None) -> int:
    """RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the past century."""
    this_year = time.gmtime(time.time() if now is None else now).tm_year
    year = this_year - this_year % 100 + short
    if year > this_year + 50:
        year -= 100
    return year


def _timestamp(
    year: int, month: bytes, day: bytes, hour: bytes, minute: bytes, second: bytes
) -> int | None:
    number = _MONTH_NUMBER[month]
    d, h, m, s = int(day), int(hour), int(minute), int(second)
    if not (1 <= d <= calendar.monthrange(year, number)[1] and h < 24 and m < 60 and s < 60):
        return None
    return calendar.timegm((year, number, d, h, m, s, 0, 0, 0))
