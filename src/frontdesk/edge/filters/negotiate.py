"""Which content coding to answer with (RFC 9110 12.5.3), and which media types to compress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from frontdesk.memo import remember

# RFC 9110 18.6: "x-gzip" is an alias kept for old clients.
_ALIASES = {"x-gzip": "gzip"}

#: Media types worth compressing: text, and the text-based formats that do not say so.
DEFAULT_TYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
    "font/ttf",
    "font/otf",
    "application/vnd.ms-fontobject",
)

#: Types matched by a pattern but left alone: a server-sent event stream is a trickle of
#: small messages that clients and intermediaries expect unencoded.
DEFAULT_EXCLUDED: tuple[str, ...] = ("text/event-stream",)


def parse_accept_encoding(fields: Iterable[bytes]) -> dict[str, float]:
    """Coding -> q-value from the Accept-Encoding field values (lower-case names).

    Malformed members are skipped rather than failing the request; a q outside 0..1 is
    clamped.
    """
    weights: dict[str, float] = {}
    for field in fields:
        for member in field.decode("latin-1").split(","):
            coding, _, params = member.partition(";")
            coding = coding.strip().lower()
            if not coding:
                continue
            q = 1.0
            for param in params.split(";"):
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        q = min(1.0, max(0.0, float(value.strip())))
                    except ValueError:
                        q = -1.0
            if q < 0:
                continue
            coding = _ALIASES.get(coding, coding)
            weights[coding] = max(q, weights.get(coding, 0.0))
    return weights


def choose_coding(fields: Sequence[bytes], available: Sequence[str]) -> str | None:
    """The best of ``available`` (in server preference on ties) the client accepts, or None.

    No Accept-Encoding at all means identity: RFC 9110 would allow any coding, but clients
    that send nothing are the ones that would not decode it.
    """
    if not fields:
        return None
    weights = parse_accept_encoding(fields)
    wildcard = weights.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for coding in available:
        q = weights.get(coding, wildcard)
        if q > best_q:
            best, best_q = coding, q
    return best


class MediaTypes:
    """A set of media-type patterns: ``type/sub``, ``type/*`` and ``type/*+suffix``."""

    def __init__(self, patterns: Iterable[str], excluded: Iterable[str] = DEFAULT_EXCLUDED) -> None:
        self.exact: set[str] = set()
        self.majors: set[str] = set()
        self.suffixes: set[tuple[str, str]] = set()
        self.excluded = {t.lower() for t in excluded}
        self._known: dict[bytes, bool] = {}
        for pattern in patterns:
            pattern = pattern.strip().lower()
            major, _, minor = pattern.partition("/")
            if minor == "*":
                self.majors.add(major)
            elif minor.startswith("*+"):
                self.suffixes.add((major, minor[1:]))
            else:
                self.exact.add(pattern)

    def matches(self, content_type: bytes) -> bool:
        # A server answers with a handful of Content-Type values, again and again: each is
        # parsed once (values of any length are parsed each time; the memo stays small).
        known = self._known.get(content_type)
        if known is not None:
            return known
        answer = self._matches(content_type)
        if len(content_type) <= 128:
            remember(self._known, content_type, answer, 256)
        return answer

    def _matches(self, content_type: bytes) -> bool:
        media = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
        if media in self.excluded:
            return False
        if media in self.exact:
            return True
        major, _, minor = media.partition("/")
        if major in self.majors:
            return True
        plus = minor.rfind("+")
        return plus != -1 and (major, minor[plus:]) in self.suffixes
