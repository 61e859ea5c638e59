"""One WSGI request cycle, written once for both execution modes.

``respond`` calls the app, sends the body through a ``Sink`` and finishes the exchange. It is a
generator so that the same code serves both modes: where the response must wait for the loop
(a drain, a sendfile), it yields a ``Wait``. The inline runner (``inline.py``) awaits it on
the loop and resumes the generator; a sink on a worker thread (``threaded.py``) waits itself
and never yields.

Invariants:
- the iterable's ``close()`` is called exactly once, whatever happened (PEP 3333), and
  *before* the exchange is finished: the connection's next request is handed to the app only
  after this one is entirely done with;
- exactly one of ``end``, ``fail`` or ``abort`` finishes the exchange;
- an app error is logged with its traceback (logger ``frontdesk.wsgi``) and answered with a
  500 when nothing was sent yet, else by closing the connection; a client that went away
  (``ClientDisconnected``) is not an app error.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING

from frontdesk.errors import ClientDisconnected
from frontdesk.interfaces.wsgi.filewrapper import file_range
from frontdesk.interfaces.wsgi.response import Response
from frontdesk.observe.journey import log_app_error

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.wsgi.types import Environ, Head, Sink, Wait, WSGIApp

log = logging.getLogger("frontdesk.wsgi")

_INTERNAL_ERROR = b"Internal Server Error\n"
_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")


def open_response(exchange: Exchange, head: Head | None) -> Exchange:
    """``exchange``, its response started with ``head`` when the app's head is due now.

    Raises ClientDisconnected when the core already answered the request (a body timeout, a
    refused body): the app's answer has nowhere to go, as if the client had left.
    """
    if exchange.finished:
        raise ClientDisconnected("the request was already answered")
    if head is not None:
        exchange.start_prepared(head)
    return exchange


def fail_exchange(exchange: Exchange) -> None:
    """Answer 500 if nothing was sent yet, else close the connection (as the ASGI layer does)."""
    if exchange.finished:
        return
    if exchange.started or exchange.disconnected:
        exchange.abort()
        return
    exchange.keep_alive = False
    exchange.start(500, [_TEXT_PLAIN, (b"connection", b"close")])
    exchange.end(_INTERNAL_ERROR)


def respond(app: WSGIApp, environ: Environ, sink: Sink) -> Generator[Wait, None, None]:
    response = Response(sink)
    result: Iterable[bytes] | None = None
    tail = b""
    error: BaseException | None = None
    try:
        result = app(environ, response.start_response)
        if type(result) is list and len(result) == 1 and not response.head_sent:
            # The commonest body, one chunk in a list, is what _send_body would make of it
            # (end() frames it with a Content-Length), without a generator of its own.
            tail = response.body(result[0])
        else:
            tail = yield from _send_body(result, response, sink)
    except BaseException as exc:  # GeneratorExit and cancellation too: close() must run
        error = exc
    close = None if type(result) is list else getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except BaseException as exc:
            error = error or exc
    if error is None:
        if response.status is None:
            log_app_error(
                log, "WSGI application returned without calling start_response", sink.exchange
            )
            sink.fail()
            return
        try:
            sink.end(response.take_head(), tail)
            return
        except BaseException as exc:
            error = exc
    if isinstance(error, ClientDisconnected):
        sink.abort()  # the client left (or the request was already answered): not an app error
    elif isinstance(error, Exception):
        log_app_error(log, "Exception in WSGI application", sink.exchange, error)
        sink.fail()
    else:
        sink.abort()
        raise error


def _send_body(
    result: Iterable[bytes], response: Response, sink: Sink
) -> Generator[Wait, None, bytes]:
    """Send the body except its last bytes, which are returned for ``end``."""
    if response.status is not None:
        found = file_range(result, response.remaining)
        if found is not None:
            file, offset, count = found
            if response.remaining >= 0:
                response.remaining -= count
            wait = sink.sendfile(response.take_head(), file, offset, count)
            if wait is not None:
                yield wait
            return b""
    if isinstance(result, (list, tuple)) and not response.head_sent:
        # The whole body is in hand: send it with a length, never in chunks.
        chunks = []
        for item in result:
            chunks.append(response.body(item))
            if response.excess:
                break
        if len(chunks) == 1:
            return chunks[0]  # end() frames it with a Content-Length
        response.declare_length(sum(map(len, chunks)))
        result = chunks
    for item in result:
        data = response.body(item)
        if data:
            sink.write(response.take_head(), data)
            wait = sink.pause()
            if wait is not None:
                yield wait
        if response.excess:
            break
    return b""
