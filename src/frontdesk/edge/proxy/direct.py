"""The proxy's direct path: one request relayed from callbacks, with no task.

Most proxied requests are small GETs answered by a small response, on a keep-alive
connection the pool already holds. For those the task of ``handler.py`` (its coroutine
frames, futures and wake-ups) costs more than the proxying itself. ``Direct.start`` sends
the request head on the pooled connection and sets itself as the connection's ``watcher``;
when the response has arrived whole (head and body, usually in one read) and would be
buffered in memory anyway, it gives the connection back to the pool and answers the client,
all from callbacks.

The request heads written in one pass of the event loop go out together, after it
(``flush``): an upstream on the same CPU is then woken once for the batch instead of
preempting the proxy once per request, which on a busy edge costs more than the writes.
Likewise the answers prepared in one pass (connection back in its pool, fields rewritten)
are sent together after it (``answer``), so the clients' side is woken for a batch, not for
every response.

Anything else hands the request over to a task at the point reached, with the connection
and the request already sent: an error (the task applies the retry rules, the keep-alive
race included), the read timeout (the task sees an ``UpstreamTimeout``), a response that is
not whole after its first bytes, one to stream, to spool to a file, or to retry on. So the
rules of ``handler.py`` are the only rules; this path only skips the task when nothing
happens that they would act on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frontdesk.edge.proxy.client import UpstreamError
from frontdesk.edge.proxy.job import Job
from frontdesk.edge.proxy.options import IDEMPOTENT
from frontdesk.edge.proxy.relay import relay_finish, relay_more, relay_plan
from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.memo import remember

if TYPE_CHECKING:
    import asyncio

    from frontdesk.edge.proxy.client import UpstreamConnection
    from frontdesk.edge.proxy.handler import ProxyRoute
    from frontdesk.edge.proxy.relay import RelayPlan
    from frontdesk.edge.proxy.upstream import Upstream

log = logging.getLogger("frontdesk.edge.proxy")

#: relay plans a route keeps for the upstream heads its connections remember
RELAY_PLANS_MAX = 256


@dataclass(slots=True, eq=False)
class Direct(Job):
    """A request without a body, which takes the direct path when its server has an idle
    pooled connection (``start``), from its request head written to its answer.

    It is the request's ``Job`` itself, with what the direct path carries besides (set by
    ``start``): one object per request rather than two. Handed to a task, it goes on as
    the plain ``Job`` it also is.
    """

    route: ProxyRoute = field(init=False)
    conn: UpstreamConnection = field(init=False)
    #: ``time.perf_counter()`` when the head was queued
    sent_at: float = field(init=False)
    #: loop time at which the response is late (``read_timeout`` after the head went)
    deadline: float = field(init=False)
    #: the request head, until ``flush`` writes it
    pending: bytes = field(init=False)

    def start(self, route: ProxyRoute, server: Upstream, conn: UpstreamConnection) -> bool:
        """Send the request on ``conn``, idle and usable as the pool handed it out, to
        ``server``, whose ``active`` already counts it.

        False when the connection turned out closed: nothing was sent, ``conn`` is aborted
        and the request is the caller's to send another way (still counted).
        """
        transport = conn.transport
        if transport is None or transport.is_closing():
            conn.abort()
            return False
        self.pending = route.request_head(self, server)
        conn.begin(self.exchange.request.method)
        self.server = server
        self.attempts += 1
        route.stats.reused_connections += 1
        loop = conn.loop
        self.route = route
        self.conn = conn
        self.sent_at = time.perf_counter()
        self.deadline = deadline = loop.time() + route.options.read_timeout
        conn.watcher = self.changed
        # One timer per route, for the oldest request waiting (every request of a route
        # has the same timeout, so they come due in the order they were sent).
        if route.direct_timer is None:
            route.direct_timer = loop.call_at(deadline, sweep, route, loop)
        route.direct[self] = None
        pending = route.pending
        if not pending:
            loop.call_soon(flush, route)
        pending.append(self)
        return True

    def write_head(self) -> None:
        conn = self.conn
        if conn.watcher is None:
            return  # handed over before its turn (the connection failed): the task has it
        head, self.pending = self.pending, b""
        try:
            conn.write(head)
        except UpstreamError:
            # Closed under us with nothing sent: the task sends the request afresh, on the
            # same server (its slot kept).
            self._stop()
            conn.abort()
            self.attempts -= 1
            self.route.spawn(self, self.server, None)

    # -- the connection's events -----------------------------------------------------------

    def changed(self) -> None:
        conn = self.conn
        if conn.error is None:
            head = conn.head
            if head is None:
                return  # nothing yet, or an interim 1xx: wait on
            if conn.complete:
                # The answer's head when the whole response is here and the task would
                # buffer it in memory and send it (inline: once per response).
                route = self.route
                options = route.options
                status = head.status
                size = conn.body_size
                exchange = self.exchange
                if (
                    status != 101
                    and not (
                        options.retry_statuses
                        and status in options.retry_statuses
                        and exchange.request.method in IDEMPOTENT
                    )
                    and size <= options.response_buffer_memory
                    and size <= options.response_buffer_max
                ):
                    # (a filter's exchange reads the fields as pairs: the plan keeps them)
                    pairs = type(exchange) is not Exchange
                    trace = self.forwarding.trace
                    if conn.known and not trace:
                        # A head remembered by the connection's side, the same object each
                        # time: its plan is remembered by the route (it holds the head, so
                        # the head's id names no other while the plan is kept).
                        key = (id(head), pairs)
                        known = route.relay_plans.get(key)
                        if known is None:
                            known = (head, relay_plan(head, options, False, pairs))
                            remember(route.relay_plans, key, known, RELAY_PLANS_MAX)
                        plan = known[1]
                    else:
                        plan = relay_plan(head, options, trace, pairs)
                    if plan is not None:
                        self._finish(plan)
                        return
        self._hand_over()

    def expired(self) -> None:
        conn = self.conn
        conn.watcher = None
        what = "reading the response head" if conn.head is None else "reading the response body"
        conn.time_out(what)
        self._hand_over()

    def abort(self) -> None:
        """The route is closing: drop the request and its connection."""
        self._stop()
        self.conn.abort()
        server = self.server
        assert server is not None  # (set by ``start``)
        server.release()
        exchange = self.exchange
        if not exchange.finished:
            exchange.abort()

    # -- internals -------------------------------------------------------------------------

    def _stop(self) -> None:
        self.conn.watcher = None
        self.route.direct.pop(self, None)
        self.waited += time.perf_counter() - self.sent_at

    def _hand_over(self) -> None:
        self._stop()
        self.route.spawn(self, self.server, self.conn)

    def _finish(self, plan: RelayPlan) -> None:
        conn, server, route = self.conn, self.server, self.route
        assert server is not None  # (set by ``start``)
        # ``_stop``, spelled out (once per response), before the head is made: the edge's
        # Server-Timing entry is its own time, without this wait for the upstream
        conn.watcher = None
        route.direct.pop(self, None)
        self.waited += time.perf_counter() - self.sent_at
        if plan.prepared is not None:
            prepared = plan.prepared
            more = relay_more(plan, self, route.options, route.prefix)
        else:
            prepared = relay_finish(plan, self, route.options, route.prefix)
            more = b""
        body = conn.take_body()
        trailers = conn.trailers or None
        server.record_success()
        server.pool.put(conn)
        server.release()
        route.stats.direct += 1
        answers = route.answers
        if not answers:
            conn.loop.call_soon(answer, route)
        answers.append((self, prepared, body, trailers, more))


def answer(route: ProxyRoute) -> None:
    """Send the answers the direct path prepared during this pass of the loop."""
    answers, route.answers = route.answers, []
    for job, head, body, trailers, more in answers:
        exchange = job.exchange
        try:
            if trailers is None:
                exchange.respond(head, body, more)
            else:
                exchange.start_prepared(head, trailers=True, more=more)
                exchange.end(body, trailers)
        except (ClientDisconnected, ProtocolError):
            if exchange.started and not exchange.finished:
                exchange.abort()
        except Exception:
            request = exchange.request
            log.exception("proxying %s %r failed", request.method, request.path)
            route.answer_error(exchange, 500, job)


def sweep(route: ProxyRoute, loop: asyncio.AbstractEventLoop) -> None:
    """Time out the direct requests whose response is late; set the timer for the next."""
    route.direct_timer = None
    directs = route.direct
    now = loop.time()
    while directs:
        direct = next(iter(directs))
        if direct.deadline > now:
            route.direct_timer = loop.call_at(direct.deadline, sweep, route, loop)
            return
        direct.expired()  # hands it to a task, out of ``route.direct``


def flush(route: ProxyRoute) -> None:
    """Write the request heads the direct path queued during this pass of the loop."""
    pending, route.pending = route.pending, []
    for direct in pending:
        direct.write_head()
