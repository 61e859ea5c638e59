"""A request's journey through the app server: request id, Server-Timing, trace, access log.

The edge (or another proxy the operator trusts) sends each request it forwards with::

    X-Request-ID: <id>
    X-Request-Start: t=<integer microseconds since the Unix epoch>
    Frontdesk-Trace: 1            (only on requests being traced)

These are believed only from a trusted peer (``forwarded_allow_ips``, the same
``TrustedProxies`` as the proxy headers; a unix socket peer is always trusted). From anyone
else they are ignored, as if absent. Then:

- ``X-Request-Start`` present: the response head gets
  ``Server-Timing: queue;dur=<ms>, app;dur=<ms>``. *queue* runs from the proxy's timestamp to
  the moment the app is called (clamped at 0: clocks of two hosts may disagree); in the
  WSGI threads mode it includes the wait for a free thread, in the inline mode the receipt of
  the request body. *app* runs from the app's call to its response head: ASGI's
  ``http.response.start``; for WSGI the head goes out with the first body bytes or the end of
  the response (``start_response`` alone sends nothing), so *app* runs to then.
- ``X-Request-ID``: the id is added to the access log line and to the app-error records
  (``rid=<id>`` in the message, and the record's ``request_id`` attribute). An id longer than
  200 characters, or with a character outside printable ASCII, a space, ``"`` or ``\\``, is
  ignored.
- ``Frontdesk-Trace: 1``: the response gets ``Frontdesk-Trace: app; pid=<pid>;
  interface=<asgi|wsgi>; app="<module:attr>"; worker=<name>`` (``app`` and ``worker`` when
  known): the layer's name, then ``;``-separated parameters as in RFC 9110's
  ``parameters`` grammar, the app's spec as a quoted-string.

Cost: a request without these fields, with the access log off, costs one flag test (the
parser notes the field names while it walks the head anyway) and one attribute test where the
response starts, writes and ends. A ``Trip`` exists only for the requests that need one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Final

from frontdesk.observe.access import access_line, access_log

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.proxy import TrustedProxies

__all__ = ["Journey", "Trip", "log_app_error", "request_id_of", "rid_suffix", "trace_value"]

_ID: Final = re.compile(rb"[!#-\[\]-~]{1,200}")
# Field names begin() looks for, and what each is.
_REQUEST_ID, _REQUEST_START, _TRACE = range(3)
_FIELDS: Final = {
    b"x-request-id": _REQUEST_ID,
    b"x-request-start": _REQUEST_START,
    b"frontdesk-trace": _TRACE,
}
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNPRINTABLE: Final = re.compile(r"[^\t -~]")


def _param(name: str, value: str) -> str:
    """``name=value``, the value a token or else a quoted-string (RFC 9110 5.6.6)."""
    if _TOKEN.fullmatch(value):
        return f"{name}={value}"
    value = _UNPRINTABLE.sub("?", value).replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{value}"'


def trace_value(layer: str, pid: int, interface: str, app: str | None, worker: str | None) -> bytes:
    """The ``Frontdesk-Trace`` field value this layer adds."""
    params = [layer, _param("pid", str(pid)), _param("interface", interface)]
    if app:
        params.append(_param("app", app))
    if worker:
        params.append(_param("worker", worker))
    return "; ".join(params).encode("ascii")


class Journey:
    """One handler's settings for the journey; ``begin`` gives a request its ``Trip``."""

    __slots__ = ("access", "trace", "trusted")

    def __init__(
        self,
        trusted: TrustedProxies,
        *,
        interface: str,
        access: bool = False,
        app: str | None = None,
        worker: str | None = None,
        pid: int | None = None,
    ) -> None:
        #: peers whose X-Request-ID, X-Request-Start and Frontdesk-Trace are believed
        self.trusted = trusted
        #: write an access log line for every request
        self.access = access
        #: this layer's Frontdesk-Trace value
        self.trace = trace_value("app", os.getpid() if pid is None else pid, interface, app, worker)

    def begin(self, exchange: Exchange) -> Trip | None:
        """The request's trip, attached to the exchange; None when it needs none.

        Call only for requests with ``request.journey`` set or with the access log on.
        """
        request = exchange.request
        request_id: str | None = None
        start_us = -1
        traced = False
        if request.journey:
            client = exchange.client
            if self.trusted.is_trusted(None if client is None else client[0]):
                for name, value in request.headers:
                    kind = _FIELDS.get(name)
                    if kind is None:
                        continue
                    if kind == _REQUEST_ID:
                        if _ID.fullmatch(value) is not None:
                            request_id = value.decode("ascii")
                    elif kind == _REQUEST_START:
                        digits = value[2:]
                        if value[:2] == b"t=" and digits.isdigit() and len(digits) < 20:
                            start_us = int(digits)
                    else:
                        traced = value == b"1"
        if not (self.access or request_id is not None or start_us >= 0 or traced):
            return None
        trip = Trip(self, request_id, start_us, traced)
        exchange.trip = trip
        return trip


class Trip:
    """One request's journey facts. Times are ``time.perf_counter()`` seconds.

    ``call`` may run on a WSGI worker thread; everything else runs on the loop, after it.
    """

    __slots__ = (
        "begun",
        "called",
        "client",
        "done",
        "journey",
        "queue",
        "request_id",
        "sent",
        "start_us",
        "traced",
    )

    def __init__(self, journey: Journey, request_id: str | None, start_us: int, traced: bool):
        self.journey = journey
        self.request_id = request_id
        #: X-Request-Start in microseconds since the epoch; -1 without one
        self.start_us = start_us
        self.traced = traced
        #: when the server took the request (for the access log's duration)
        self.begun = time.perf_counter() if journey.access else 0.0
        #: when the app was called; 0.0 until then
        self.called = 0.0
        #: milliseconds from X-Request-Start to the app's call
        self.queue = 0.0
        #: the client address after trusted proxy resolution, for the access log
        self.client: str | None = None
        #: response body bytes sent
        self.sent = 0
        self.done = False

    def call(self) -> None:
        """The app is about to be called: the end of *queue*, the start of *app*."""
        start_us = self.start_us
        if start_us >= 0:
            self.called = time.perf_counter()
            # Clamped: the proxy's clock may be ahead of ours.
            queue = time.time() * 1000.0 - start_us / 1000.0
            self.queue = queue if queue > 0.0 else 0.0

    def head_fields(self) -> list[tuple[bytes, bytes]]:
        """Fields to add to the response head, computed as it starts."""
        fields = []
        if self.start_us >= 0:
            called = self.called
            if called:
                app = (time.perf_counter() - called) * 1000.0
            else:  # answered without calling the app (a 503 from admission control)
                self.call()
                app = 0.0
            fields.append((b"server-timing", b"queue;dur=%.3f, app;dur=%.3f" % (self.queue, app)))
        if self.traced:
            fields.append((b"frontdesk-trace", self.journey.trace))
        return fields

    def finish(self, exchange: Exchange) -> None:
        """The exchange is over (answered, aborted or refused): its access log line, once."""
        if self.done:
            return
        self.done = True
        if not self.journey.access:
            return
        request = exchange.request
        client = self.client
        if client is None:
            peer = exchange.client
            client = None if peer is None else peer[0]
        access_log.info(
            access_line(
                client,
                request.method,
                request.target,
                request.version,
                exchange.status,
                self.sent,
                time.perf_counter() - self.begun,
                self.request_id,
            )
        )


def request_id_of(exchange: Exchange) -> str | None:
    """The trusted X-Request-ID of the exchange's request, if it has one."""
    trip = exchange.trip
    return None if trip is None else trip.request_id


def rid_suffix(exchange: Exchange) -> tuple[str, dict[str, str | None]]:
    """For an error record about ``exchange``: a message suffix and the ``extra`` dict.

    The suffix is `` rid=<id>`` with a request id, else empty; the record's ``request_id``
    attribute is the id or None.
    """
    request_id = request_id_of(exchange)
    return ("" if request_id is None else f" rid={request_id}"), {"request_id": request_id}


def log_app_error(
    logger: logging.Logger,
    message: str,
    exchange: Exchange,
    exc_info: BaseException | bool = False,
) -> None:
    """``logger.error(message, exc_info=...)`` carrying the exchange's request id."""
    suffix, extra = rid_suffix(exchange)
    logger.error(message + suffix, exc_info=exc_info, extra=extra)
