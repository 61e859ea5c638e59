"""Parse the text wrk prints (``wrk --latency``) into numbers. Pure: no processes here.

wrk's report is the only interface wrk offers without a Lua script, so the parser keys on the
lines that have been stable across wrk 4.x: ``Requests/sec:``, ``N requests in T``, the
``Latency Distribution`` percentiles, ``Transfer/sec:``, ``Socket errors:`` and
``Non-2xx or 3xx responses:``.
Samples captured from this machine live in tests/bench/test_wrk_parse.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)")
_RPS = re.compile(r"^Requests/sec:\s+([0-9]+(?:\.[0-9]+)?)\s*$", re.M)
_TOTAL = re.compile(r"^\s*([0-9]+) requests in (\S+),", re.M)
_PERCENTILE = re.compile(r"^\s+([0-9]+(?:\.[0-9]+)?)%\s+(\S+)\s*$", re.M)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)"
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: ([0-9]+)")
_TRANSFER = re.compile(r"^Transfer/sec:\s+([0-9]+(?:\.[0-9]+)?)(B|KB|MB|GB|TB)\s*$", re.M)
_SIZE_UNITS = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}  # wrk's are binary


class WrkParseError(ValueError):
    """wrk's output lacks a line the benchmark needs (wrk failed, or its format changed)."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Times are in seconds; ``latency`` maps a percentile (50.0) to seconds."""

    requests: int
    duration: float
    rps: float
    latency: dict[float, float] = field(default_factory=dict)
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_2xx_3xx: int = 0
    transfer: float = 0.0  # bytes/s of responses (``Transfer/sec``); 0 when wrk printed none

    @property
    def p50(self) -> float:
        return self.latency[50.0]

    @property
    def p99(self) -> float:
        return self.latency[99.0]

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def errors(self) -> int:
        """Everything that is not a good answer: socket errors plus non-2xx/3xx responses."""
        return self.socket_errors + self.non_2xx_3xx


def parse_time(text: str) -> float:
    """``"361.00us"`` → 0.000361; wrk's units are us, ms, s, m and h."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise WrkParseError(f"not a wrk time: {text!r}")
    return float(match[1]) * _TIME_UNITS[match[2]]


def parse(output: str) -> WrkResult:
    """Parse the stdout of ``wrk --latency``; raise WrkParseError if a needed line is missing."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None:
        first = output.strip().splitlines()[:1]
        raise WrkParseError(f"no 'Requests/sec' in wrk output: {first[0] if first else '(empty)'}")
    latency = {float(p): parse_time(t) for p, t in _PERCENTILE.findall(output)}
    if 50.0 not in latency or 99.0 not in latency:
        raise WrkParseError("no latency distribution in wrk output (was --latency given?)")
    sockets = _SOCKET_ERRORS.search(output)
    connect, read, write, timeout = (int(n) for n in sockets.groups()) if sockets else (0, 0, 0, 0)
    non_2xx = _NON_2XX.search(output)
    transfer = _TRANSFER.search(output)
    return WrkResult(
        requests=int(total[1]),
        duration=parse_time(total[2]),
        rps=float(rps[1]),
        latency=latency,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        transfer=float(transfer[1]) * _SIZE_UNITS[transfer[2]] if transfer else 0.0,
    )
