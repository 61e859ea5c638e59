"""``frontdesk trace URL``: one request through the running stack, and the layers it crossed.

The request carries ``Frontdesk-Trace: 1``. Each layer that trusts the peer that sent it (the
edge trusts loopback by default; the app server trusts the edge's unix socket) adds a
``Frontdesk-Trace`` field naming itself (which process, which route, which upstream, which
app), and the ``Server-Timing`` header carries each layer's time: ``edge`` (the front door's
own work), ``queue`` (waiting for an app worker), ``app`` (the app, until its response began).
This module sends the request with the standard library's client and prints that journey.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from frontdesk.errors import ConfigError

__all__ = ["Journey", "Layer", "format_journey", "parse_params", "trace"]

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?\s*')


@dataclass
class Layer:
    name: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Journey:
    method: str
    url: str
    status: int
    reason: str
    elapsed_ms: float
    request_id: str
    layers: list[Layer]
    timings: dict[str, float]


def parse_params(text: str) -> tuple[str, dict[str, str]]:
    """``name; key=value; key="quoted"`` as the name and its parameters."""
    name, _, rest = text.partition(";")
    params: dict[str, str] = {}
    for part in _split(rest):
        match = _PARAM.fullmatch(part)
        if match is None:
            continue
        value = match.group(2) or ""
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1)] = value
    return name.strip(), params


def _split(text: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def _timings(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        for metric in value.split(","):
            name, params = parse_params(metric)
            try:
                out[name] = float(params["dur"])
            except (KeyError, ValueError):
                continue
    return out


def trace(
    url: str, *, method: str = "GET", timeout: float = 30.0, insecure: bool = False
) -> Journey:
    """Send one traced request to ``url``; OSError when it cannot be sent or answered."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"trace {url!r}: expected an http:// or https:// URL")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        started = time.perf_counter()
        conn.request(
            method, target, headers={"Frontdesk-Trace": "1", "User-Agent": "frontdesk-trace"}
        )
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    layers = [Layer(*parse_params(v)) for v in response.headers.get_all("Frontdesk-Trace") or []]
    return Journey(
        method=method,
        url=url,
        status=response.status,
        reason=response.reason,
        elapsed_ms=elapsed,
        request_id=response.headers.get("X-Request-ID", ""),
        layers=_in_crossing_order(layers),
        timings=_timings(response.headers.get_all("Server-Timing") or []),
    )


_ORDER = {"edge": 0, "app": 1}


def _in_crossing_order(layers: list[Layer]) -> list[Layer]:
    # Fields are added on the way back (the app's first); the request met them edge first.
    return sorted(layers, key=lambda layer: _ORDER.get(layer.name, 2))


def format_journey(journey: Journey) -> str:
    """The journey as the steps a request takes, one line each, with each layer's time."""
    lines = [
        f"{journey.method} {journey.url}",
        f"  -> {journey.status} {journey.reason} in {journey.elapsed_ms:.2f} ms"
        + (f", request id {journey.request_id}" if journey.request_id else ""),
    ]
    if not journey.layers:
        lines.append(
            "  no layer reported itself: the server is not frontdesk, or it does not trust "
            "this client (trace from a trusted address, e.g. loopback)"
        )
        return "\n".join(lines) + "\n"
    step = 0
    t = journey.timings
    accounted = 0.0
    for layer in journey.layers:
        p = layer.params
        if layer.name == "edge":
            step += 1
            where = f"route {p.get('route', '?')}"
            if "static" in p:
                where += f" -> static file {p['static']}"
            elif "upstream" in p:
                where += f" -> upstream {p['upstream']}"
                if p.get("attempts", "1") != "1":
                    where += f" ({p['attempts']} attempts)"
            lines.append(f"  {step}. edge   pid {p.get('pid', '?')}: {where}{_ms(t, 'edge')}")
            accounted += t.get("edge", 0.0)
        elif layer.name == "app":
            if "queue" in t:
                step += 1
                lines.append(f"  {step}. queue  waiting for an app worker{_ms(t, 'queue')}")
                accounted += t["queue"]
            step += 1
            who = f"worker {p['worker']}, " if "worker" in p else ""
            what = f"{p.get('interface', '?').upper()} app {p.get('app', '?')}"
            lines.append(f"  {step}. app    pid {p.get('pid', '?')} ({who}{what}){_ms(t, 'app')}")
            accounted += t.get("app", 0.0)
        else:
            step += 1
            lines.append(f"  {step}. {layer.name}")
    rest = journey.elapsed_ms - accounted
    lines.append(
        f"  the rest, {max(rest, 0.0):.3f} ms: the network, the response body, and the "
        "layers' handoffs"
    )
    return "\n".join(lines) + "\n"


def _ms(timings: dict[str, float], name: str) -> str:
    return f"  [{name} {timings[name]:.3f} ms]" if name in timings else ""
