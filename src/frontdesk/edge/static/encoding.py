"""Accept-Encoding (RFC 9110 12.5.3): which precompressed sibling, if any, a client gets.

A request without Accept-Encoding gets the identity file (RFC 9110 allows any coding then,
but nothing sensible can be assumed of such a client). Otherwise each coding's weight is its
own q-value, else the ``*`` member's, else 0 (not acceptable); ``q=0`` always excludes.
Identity weighs its own q-value, else the ``*`` member's, else it comes last: acceptable,
but after any coding the client named (``gzip;q=0.5`` alone asks for gzip). The highest
weight wins; ties go to the smaller file first: ``br``, then ``gzip``, then identity.
``x-gzip`` counts as ``gzip`` (RFC 9110 8.4.1.3). When nothing is acceptable the identity
file is sent anyway, as nginx does (a 406 helps nobody for a static file).
"""

from __future__ import annotations

import re

#: the codings served from siblings, in tie-break order, with their file suffix
CODINGS: tuple[tuple[str, str], ...] = (("br", ".br"), ("gzip", ".gz"))

# The weight of an identity coding the client did not mention: above 0, below any q-value.
_LAST_RESORT = 0.0001

_QVALUE = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z", re.IGNORECASE)


def parse_accept_encoding(value: bytes) -> dict[str, float]:
    """Coding (lower case) → q-value; members with a malformed q-value are dropped."""
    weights: dict[str, float] = {}
    for member in value.decode("latin-1").split(","):
        name, _, params = member.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            param = param.strip()
            if not param:
                continue
            match = _QVALUE.match(param.replace(" ", ""))
            if match is None:
                if param[:1].lower() == "q":
                    weight = -1.0  # a broken q-value: drop the member
                continue
            weight = float(match.group(1))
        if weight < 0:
            continue
        if name == "x-gzip":
            name = "gzip"
        weights[name] = max(weight, weights.get(name, 0.0))
    return weights


def choose_coding(accept: bytes | None, available: tuple[str, ...]) -> str | None:
    """The coding to send among ``available`` (names from CODINGS), or None for identity."""
    if accept is None or not available:
        return None
    weights = parse_accept_encoding(accept)
    star = weights.get("*")
    # Identity not named: acceptable, but after any coding the client did name.
    identity = weights.get("identity", _LAST_RESORT if star is None else star)
    best: str | None = None
    best_weight = identity
    for coding, _suffix in CODINGS:
        if coding not in available:
            continue
        weight = weights.get(coding, 0.0 if star is None else star)
        # A coding beats identity on a tie; an earlier coding beats a later one.
        if weight > 0 and (weight > best_weight or (best is None and weight == best_weight)):
            best, best_weight = coding, weight
    return best
