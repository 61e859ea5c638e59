"""A request's journey through the edge: the fields each edge route adds to say what it did.

The contract with the app server (``docs/edge.md``, "A request's journey"):

- ``X-Request-Start: t=<integer microseconds since the Unix epoch>`` goes upstream with every
  proxied request, taken as its head is written upstream (so the app server's ``queue`` span
  is the wait for a worker, not the edge's own work or a slow upload before it). A trusted
  peer's own value of that shape is kept (it saw the request first); anyone else's is
  replaced.
- Every response the edge routes send carries a ``Server-Timing`` entry
  ``edge;dur=<ms, 3 decimals>``: the edge's own time for the request, from receiving the
  request head to starting the response head, minus the time spent waiting on an upstream
  (connecting, sending, and until the upstream's response head arrived). An upstream's own
  ``Server-Timing`` is kept and the edge's entry appended to it.
- ``Frontdesk-Trace: 1`` from a trusted peer asks every layer to describe itself in a
  ``Frontdesk-Trace`` response field. The edge forwards the ask upstream, keeps the
  upstream's answers, and adds its own field after them. An untrusted client's ask is
  dropped, and an untrusted client never sees a ``Frontdesk-Trace`` field.

Trust is the ``TrustedProxies`` of X-Forwarded-*: the one rule decides which peers may speak
for the client.
"""

from __future__ import annotations

import os
import re

SERVER_TIMING = b"server-timing"
TRACE = b"frontdesk-trace"
REQUEST_START = b"x-request-start"

# A trusted peer's X-Request-Start kept as it is: the contract's own shape, nothing else.
_REQUEST_START = re.compile(rb"t=[0-9]{1,20}\Z")
# Bytes that may not appear in a field value, or would end a quoted-string early.
_UNSAFE = re.compile(rb'[\x00-\x1f\x7f"\\]')


def request_start(wall: float) -> bytes:
    """``t=<microseconds>`` for a request head received at ``wall`` (``time.time()``)."""
    return b"t=%d" % int(wall * 1_000_000)


def valid_request_start(value: bytes) -> bool:
    return _REQUEST_START.match(value) is not None


def timing_entry(seconds: float) -> bytes:
    """The edge's ``Server-Timing`` entry for ``seconds`` of its own time."""
    return _ENTRY % (seconds * 1000.0 if seconds > 0.0 else 0.0)


_ENTRY = b"edge;dur=%.3f"
#: ``timing_entry`` as a whole field line, formatted with the milliseconds (not below 0)
#: in one step where it is added for every response
TIMING_LINE = SERVER_TIMING + b": " + _ENTRY + b"\r\n"


def add_timing(fields: list[tuple[bytes, bytes]], entry: bytes) -> None:
    """Append ``entry`` to the last ``Server-Timing`` field of ``fields``, or add one.

    One field with the upstream's entries and then the edge's reads in the order the layers
    finished: ``queue;dur=..., app;dur=..., edge;dur=...``.
    """
    for index in range(len(fields) - 1, -1, -1):
        name, value = fields[index]
        if name == SERVER_TIMING:
            fields[index] = (name, value + b", " + entry if value.strip() else entry)
            return
    fields.append((SERVER_TIMING, entry))


def trace_asked(headers: list[tuple[bytes, bytes]]) -> bool:
    """The request carries ``Frontdesk-Trace: 1`` (trust is the caller's to check)."""
    return any(name == TRACE and value.strip() == b"1" for name, value in headers)


def quoted(text: str | bytes) -> bytes:
    """An RFC 9110 quoted-string; control bytes, quotes and backslashes as ``%XX``.

    Percent-escaping (rather than quoted-pairs) keeps the value readable and a CR or LF from
    ever reaching the head.
    """
    raw = text if isinstance(text, bytes) else os.fsencode(text)
    return b'"' + _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], raw) + b'"'


def trace_field(route: str, **params: str | int | None) -> tuple[bytes, bytes]:
    """``Frontdesk-Trace: edge; pid=<pid>; route="<prefix>"; <params>``.

    A string parameter is quoted, an int written as is; a None one is left out.
    """
    value = b"edge; pid=%d; route=%b" % (os.getpid(), quoted(route))
    for key, param in params.items():
        if param is None:
            continue
        if isinstance(param, int):
            value += b"; %b=%d" % (key.encode("ascii"), param)
        else:
            value += b"; %b=%b" % (key.encode("ascii"), quoted(param))
    return (TRACE, value)
