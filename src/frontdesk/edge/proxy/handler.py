"""``ProxyRoute``: a core ``Handler`` passing requests under a path prefix to an upstream group.

One request's path through the route (``_proxy``):

1. the body is read whole (memory, then a temporary file) unless the route streams it;
2. a server is picked (balancer, health, not yet tried) and a connection taken from its pool
   or opened; the request head goes out with hop-by-hop fields dropped and forwarding fields
   set, then the body;
3. the response head is read; a 101 is tunnelled (``tunnel.py``); a buffered response is
   read whole and its connection given back before the client sees a byte; a streamed one
   (``X-Accel-Buffering: no``, server-sent events, or the route's choice) is relayed as it
   comes, under the client's back-pressure.

Retries, in step 2 and 3 before the client sees anything:
- a connection that could not be made: always (nothing was sent);
- a pooled connection closed under us before any response byte (the keep-alive race): once
  more on a fresh connection to the same server, when the request may be replayed;
- a reset, timeout, invalid response, or a ``retry_statuses`` answer: on another server,
  for idempotent methods only (RFC 9110 9.2.2). A POST or PATCH is never sent twice once a
  byte of it went out, nor is a request whose streamed body was consumed.
Each is bounded by ``max_tries`` and ``retry_timeout``; every failure counts towards the
server's passive health. When all tries fail the client gets 502, or 504 after a timeout;
503 when no server was available at all.

A server with ``max_conns`` is counted (``active``) from its pick to the end of its try; when
every server a request may use is at its cap, the request waits in the group's queue
(``queue.py``) and takes the first slot that frees, or gets 503 after the queue's timeout
(or goes past the cap, with ``overflow``). A retry waits likewise for an untried server.

The common case takes no task (``direct.py``): a request without a body whose server has an
idle pooled connection is written at once, and a response that arrives whole and is to be
buffered is relayed from the connection's callback. Anything else (no idle connection, a
failure, a response to stream, spool or retry on) continues in a task, in the flow above,
from where the direct path stopped.

Every answer carries the edge's ``Server-Timing`` entry (its own time: the request's time
here less the time spent waiting on upstreams), and a trusted peer's ``Frontdesk-Trace: 1``
gets the edge's trace field after the upstream's (``frontdesk.edge.filters.journey``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from frontdesk.edge.filters.journey import add_timing, request_start, timing_entry, trace_field
from frontdesk.edge.proxy.balancer import RoundRobin
from frontdesk.edge.proxy.buffering import Spool, read_request_body
from frontdesk.edge.proxy.client import (
    ConnectFailed,
    InvalidResponse,
    ResponseHead,
    UpstreamClosed,
    UpstreamConnection,
    UpstreamError,
)
from frontdesk.edge.proxy.direct import Direct
from frontdesk.edge.proxy.headers import (
    START_LINE,
    accel_buffering,
    forwarding_for,
    head_parts,
    header_value,
    response_fields,
)
from frontdesk.edge.proxy.job import Job, ProxyStats, Response
from frontdesk.edge.proxy.options import IDEMPOTENT, ProxyOptions
from frontdesk.edge.proxy.pages import PAGE_TYPE, error_page
from frontdesk.edge.proxy.queue import Waiter
from frontdesk.edge.proxy.relay import RelayPlan
from frontdesk.edge.proxy.tunnel import Tunnel
from frontdesk.edge.proxy.upstream import Upstream, UpstreamGroup
from frontdesk.errors import ClientDisconnected, ProtocolError
from frontdesk.http.exchange import Exchange
from frontdesk.http.prepared import PreparedHead
from frontdesk.http.request import Request
from frontdesk.http.rules import status_line
from frontdesk.http.writer import CRLF, LAST_CHUNK, chunk, encode_fields
from frontdesk.interfaces.proxy import resolve
from frontdesk.memo import remember

log = logging.getLogger("frontdesk.edge.proxy")

TRACE_ASK = b"frontdesk-trace: 1\r\n\r\n"
#: request heads a route keeps (``request_head``), and the most field bytes of one kept
HEADS_MAX = 1024
HEAD_FIELD_BYTES = 4096


class ProxyRoute:
    """Requests whose path starts with ``prefix`` go to ``group``."""

    def __init__(
        self, prefix: str, group: UpstreamGroup, options: ProxyOptions | None = None
    ) -> None:
        if not prefix.startswith("/"):
            raise ValueError(f"a route prefix starts with '/': {prefix!r}")
        self.prefix = prefix
        self._prefix = prefix.rstrip("/").encode("latin-1")
        self.group = group
        self.options = options or ProxyOptions()
        self.stats = ProxyStats()
        #: the balancer hashes a key of the request (round-robin and its kind use none)
        self._keyed = type(group.balancer).key is not RoundRobin.key
        self._tasks: set[asyncio.Task[None]] = set()
        #: requests on the direct (task-free) path, waiting for their upstream's answer
        self.direct: dict[Direct, None] = {}
        #: the timer of the oldest request in ``direct`` (``direct.sweep``)
        self.direct_timer: asyncio.TimerHandle | None = None
        #: direct requests whose heads go out at the end of this pass of the loop
        self.pending: list[Direct] = []
        #: direct answers sent together at the end of this pass of the loop
        self.answers: list[
            tuple[Job, PreparedHead, bytes, list[tuple[bytes, bytes]] | None, bytes]
        ] = []
        #: the relay plans of remembered upstream heads (``direct.py``), by the head's id
        #: and whether the fields go on as pairs
        self.relay_plans: dict[tuple[int, bool], tuple[ResponseHead, RelayPlan | None]] = {}
        #: the request heads sent upstream, but for their id and start (``request_head``)
        self.heads: dict[tuple[object, ...], tuple[bytes, bytes, bytes]] = {}

    def matches(self, path: bytes) -> bool:
        """``/api`` matches ``/api`` and ``/api/...``, never ``/apis``."""
        prefix = self._prefix
        if not prefix:
            return True
        return path.startswith(prefix) and (
            len(path) == len(prefix) or path[len(prefix) : len(prefix) + 1] in (b"/", b"?")
        )

    def handle(self, exchange: Exchange) -> None:
        # The journey's clock starts when the core parsed the request head.
        received = exchange.received
        self.stats.requests += 1
        try:
            job = self._job(exchange, received)
        except Exception:
            log.exception("proxying %s %r failed", exchange.request.method, exchange.request.path)
            self.answer_error(exchange, 500, None)
            return
        if type(job) is Direct:  # no body, no tunnel: the direct path is open to it
            group = self.group
            first = group.pick(job.key, ())
            if first is not None:
                first.active += 1
                conn = first.pool.take()
                if conn is None or not job.start(self, first, conn):
                    self.spawn(job, first, None)
                return
            if group.limited and group.saturated():
                # Every server is at its max_conns: the request waits for the first free
                # slot, still without a task.
                if not group.queue.add(Queued(self, job), asyncio.get_running_loop()):
                    self.stats.failures += 1
                    self.answer_error(exchange, 503, job)
                return
        self.spawn(job, None, None)

    def spawn(self, job: Job, first: Upstream | None, sent: UpstreamConnection | None) -> None:
        """Go on with ``job`` in a task: from ``first`` (already picked, and counted in its
        ``active``), with the request already ``sent`` on a connection to it when given."""
        task = asyncio.get_running_loop().create_task(self._serve(job, first, sent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dispatch(self, job: Direct, server: Upstream) -> None:
        """Send ``job`` (no body, from the queue) to ``server``, whose slot it was given."""
        conn = server.pool.take()
        if conn is None or not job.start(self, server, conn):
            self.spawn(job, server, None)

    async def close(self) -> None:
        """Cancel requests in flight and close the group's idle connections."""
        queue = self.group.queue  # first: a slot freed below must not start anything
        for waiter in list(queue.waiting):
            if isinstance(waiter, Queued) and waiter.route is self:
                queue.remove(waiter)
                waiter.job.exchange.abort()
        for direct in list(self.direct):
            direct.abort()
        if self.direct_timer is not None:
            self.direct_timer.cancel()
            self.direct_timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.group.close()

    # -- one request -----------------------------------------------------------------------

    async def _serve(
        self, job: Job, first: Upstream | None, sent: UpstreamConnection | None
    ) -> None:
        exchange = job.exchange
        try:
            await self._proxy(job, first, sent)
        except (ClientDisconnected, ProtocolError):
            # The client left, or the core refused its body and answered it already.
            if exchange.started and not exchange.finished:
                exchange.abort()
        except Exception:
            log.exception("proxying %s %r failed", exchange.request.method, exchange.request.path)
            self.answer_error(exchange, 500, job)

    def _job(self, exchange: Exchange, received: float) -> Job:
        options = self.options
        request = exchange.request
        peer = exchange.client
        scheme = options.scheme or exchange.scheme
        forwarding = forwarding_for(
            # (the parser saw whether any journey field is there to keep)
            request.headers if request.journey else (),
            None if peer is None else peer[0],
            scheme,
            options.trusted,
        )
        trip = exchange.trip
        if trip is not None:  # the edge's access log: the id the app server logs too
            trip.request_id = forwarding.request_id.decode("ascii")
        upgrade = request.upgrade
        tunnel = None
        if upgrade is not None and any(
            p.strip().lower() in options.upgrade_protocols for p in upgrade.split(b",")
        ):
            tunnel = upgrade
        target = request.target
        if options.strip_prefix or not target.startswith(b"/"):
            target = self._target(request)  # (else ``_target`` would return it as it is)
        # A request without a body or a tunnel is a ``Direct``: the job that may go the
        # direct path. (``request.has_body`` spelled out: one call less per request.)
        kind = Job if tunnel is not None or request.chunked or request.content_length else Direct
        job = kind(exchange, forwarding, target, tunnel, None, False, received)
        if self._keyed:
            job.key = self.group.balancer.key(request, self._client_host(job))
        return job

    async def _proxy(
        self, job: Job, first: Upstream | None, sent: UpstreamConnection | None
    ) -> None:
        options = self.options
        exchange = job.exchange
        request = exchange.request
        if request.has_body:
            if options.request_buffering:
                job.body = Spool(options.request_buffer_memory, options.temp_dir)
                try:
                    await read_request_body(exchange, job.body)
                except BaseException:
                    job.body.close()
                    raise
                if job.body.file is not None:
                    self.stats.spooled_requests += 1
            else:
                job.streamed = True
        try:
            await self._forward(job, first, sent)
        finally:
            if job.body is not None:
                job.body.close()

    async def _forward(
        self, job: Job, first: Upstream | None, sent: UpstreamConnection | None
    ) -> None:
        options = self.options
        group = self.group
        request = job.exchange.request
        loop = asyncio.get_running_loop()
        started = loop.time()
        idempotent = request.method in IDEMPOTENT
        max_tries = options.max_tries or len(group.servers)
        tried: list[Upstream] = []
        error: UpstreamError | None = None
        while True:
            # A server is counted in its ``active`` as it is picked (``first`` was already).
            server = first
            first = None
            if server is None:
                server = group.pick(job.key, tried)
                if server is not None:
                    server.active += 1
                elif group.limited and group.saturated(tried):
                    server = await self._wait_for_slot(job, tried)
                    if server is None:
                        break
                else:
                    break
            tried.append(server)
            last = len(tried) >= max_tries or not any(
                s.available() for s in group.servers if s not in tried
            )
            conn, sent = sent, None
            try:
                response = await self._attempt(
                    job, server, idempotent=idempotent, last=last, sent=conn
                )
            except UpstreamError as exc:
                server.release()
                server.record_failure()
                error = exc
                log.warning(
                    "upstream %s failed for %s %r (request %s): %s",
                    server.name,
                    request.method,
                    request.path,
                    job.forwarding.request_id.decode("ascii"),
                    exc,
                )
                if (
                    last
                    or not self._may_retry(exc, job, idempotent)
                    or (options.retry_timeout and loop.time() - started >= options.retry_timeout)
                ):
                    break
                self.stats.retries += 1
                continue
            except BaseException:
                server.release()
                raise
            await self._relay(job, server, response)
            return
        self.stats.failures += 1
        self.answer_error(job.exchange, 503 if error is None else error.status, job)

    async def _wait_for_slot(self, job: Job, tried: list[Upstream]) -> Upstream | None:
        """Wait in the group's queue for a slot on a server not in ``tried``; None when the
        queue is full or the wait timed out."""
        queue = self.group.queue
        loop = asyncio.get_running_loop()
        waiter = Waiting(loop.create_future(), self.group, job.key, tried)
        if not queue.add(waiter, loop):
            return None
        try:
            return await waiter.future
        except BaseException:
            future = waiter.future
            if future.done() and not future.cancelled() and (server := future.result()):
                server.release()  # handed a slot just as the task was cancelled
            raise
        finally:
            queue.remove(waiter)

    @staticmethod
    def _may_retry(exc: UpstreamError, job: Job, idempotent: bool) -> bool:
        if job.consumed:
            return False
        if isinstance(exc, ConnectFailed) or not exc.sent:
            return True
        return idempotent

    def _client_host(self, job: Job) -> str | None:
        exchange = job.exchange
        peer = exchange.client
        if peer is None or not job.forwarding.trusted or not exchange.request.proxied:
            return None if peer is None else peer[0]
        client = resolve(
            peer, job.forwarding.scheme, exchange.request.headers, self.options.trusted
        )
        return None if client.client is None else client.client[0]

    def _target(self, request: Request) -> bytes:
        target = request.target
        if target == b"*":
            return target
        if self.options.strip_prefix or not target.startswith(b"/"):
            path = request.path
            if self.options.strip_prefix and self.matches(path):
                path = path[len(self._prefix) :]
                if not path.startswith(b"/"):
                    path = b"/" + path
            target = path + b"?" + request.query if request.query else path
        return target

    # -- one try on one server -------------------------------------------------------------

    async def _attempt(
        self,
        job: Job,
        server: Upstream,
        *,
        idempotent: bool,
        last: bool,
        sent: UpstreamConnection | None = None,
    ) -> Response:
        if sent is None:
            job.server = server
            job.attempts += 1
        waiting = time.perf_counter()
        try:
            conn, head = await self._exchange_head(job, server, idempotent=idempotent, sent=sent)
        finally:
            job.waited += time.perf_counter() - waiting
        try:
            return await self._read_response(job, conn, head, idempotent=idempotent, last=last)
        except BaseException:
            conn.abort()
            raise

    async def _exchange_head(
        self,
        job: Job,
        server: Upstream,
        *,
        idempotent: bool,
        sent: UpstreamConnection | None,
    ) -> tuple[UpstreamConnection, ResponseHead]:
        """A connection to ``server`` with the request sent and the response head read.

        ``sent``: a pooled connection the direct path wrote the request on already.
        """
        options = self.options
        pool = server.pool
        conn = sent if sent is not None else pool.take()
        reused = conn is not None
        if conn is None:
            conn = await pool.connect(options.connect_timeout)
        elif sent is None:
            self.stats.reused_connections += 1
        try:
            if sent is not None:
                head = await conn.read_head(options.read_timeout)
            else:
                head = await self._send(job, server, conn)
        except UpstreamError as exc:
            conn.abort()
            if not (
                reused
                and isinstance(exc, UpstreamClosed)
                and not exc.responded
                and not job.consumed
                and (idempotent or not exc.sent)
            ):
                raise
            # The upstream closed its idle connection as we reused it: nothing was answered,
            # so the request goes once more, on a connection of its own.
            self.stats.keepalive_retries += 1
            conn = await pool.connect(options.connect_timeout)
            try:
                head = await self._send(job, server, conn)
            except BaseException:
                conn.abort()
                raise
        except BaseException:
            conn.abort()  # the client left mid-body, or the task was cancelled
            raise
        return conn, head

    async def _send(self, job: Job, server: Upstream, conn: UpstreamConnection) -> ResponseHead:
        """Write the request (head and body) and read the response head."""
        options = self.options
        request = job.exchange.request
        body = job.body
        chunked = job.streamed and request.content_length is None
        head = self.request_head(job, server)
        if server.wsgi_conns and not job.forwarding.trace:
            # Ask the app server what it runs (its answer's trace field is not relayed).
            head = head[:-2] + TRACE_ASK
        conn.begin(request.method)
        try:
            if body is not None and body.file is None:
                conn.write(head + body.getvalue())
            else:
                conn.write(head)
                if body is not None:
                    for piece in body.pieces():
                        conn.write(piece)
                        await conn.drain(options.send_timeout)
                elif job.streamed:
                    await self._send_streamed(job, conn, chunked)
            await conn.drain(options.send_timeout)
        except UpstreamError:
            if not conn.head_received:
                raise
            conn.spoil()  # answered early: the rest of the request was never sent
        return await conn.read_head(options.read_timeout)

    def request_head(self, job: Job, server: Upstream) -> bytes:
        """The request head as sent to ``server``, framed for the body the proxy sends.

        A client sends requests alike but for their targets again and again (a poller, a load
        balancer's probe, a page's assets): the head but for the target and the two fields
        that change every time (the request id and start) is kept for requests alike in what
        the key holds. The rest of what the head depends on follows from those under the
        route's fixed options: whether the peer is trusted (so which of its forwarding and
        journey fields are kept), the client's Host and TE, the body's framing.
        """
        request = job.exchange.request
        body = job.body
        if body is not None:
            length: int | None = body.size
        elif job.streamed:
            length = request.content_length
        else:
            length = 0 if request.content_length == 0 else None
        host = request.host
        if self.options.upstream_host or not host:
            host = server.address.authority
        forwarding = job.forwarding
        headers = request.headers
        key = (
            request.method,
            tuple(headers),
            host,
            forwarding.peer,
            forwarding.scheme,
            job.tunnel,
            length,
        )
        parts = self.heads.get(key)
        if parts is None:
            parts = head_parts(
                request.method,
                headers,
                host,
                forwarding,
                client_host=request.host,
                tunnel=job.tunnel,
                te_trailers=request.accepts_trailers,
                length=length,
                chunked=job.streamed and length is None,
            )
            if sum(len(name) + len(value) for name, value in headers) <= HEAD_FIELD_BYTES:
                remember(self.heads, key, parts, HEADS_MAX)
        start = forwarding.request_start or request_start(time.time())
        # (a join of the pieces costs less than formatting them)
        return b"".join(
            (parts[0], job.target, parts[1], forwarding.request_id, START_LINE, start, parts[2])
        )

    async def _send_streamed(self, job: Job, conn: UpstreamConnection, chunked: bool) -> None:
        exchange = job.exchange
        timeout = self.options.send_timeout
        while True:
            data = exchange.read_nowait()
            if data is None:
                job.consumed = True
                data = await exchange.read()
            if not data:
                break
            job.consumed = True
            conn.write(chunk(data) if chunked else data)
            await conn.drain(timeout)
            if conn.head_received:
                conn.spoil()  # the upstream answered before the body was all sent
                return
        if chunked:
            conn.write(LAST_CHUNK)

    async def _read_response(
        self,
        job: Job,
        conn: UpstreamConnection,
        head: ResponseHead,
        *,
        idempotent: bool,
        last: bool,
    ) -> Response:
        options = self.options
        if head.status == 101:
            if job.tunnel is None or not conn.upgraded:
                raise InvalidResponse("upstream switched protocols unasked", sent=True)
            return Response(conn, head)
        if head.status in options.retry_statuses and idempotent and not last:
            raise UpstreamError(f"upstream answered {head.status}", sent=True, responded=True)
        if not self.buffered(head):
            return Response(conn, head)
        spool = Spool(options.response_buffer_memory, options.temp_dir)
        try:
            while spool.size <= options.response_buffer_max:
                data = await conn.read_body(options.read_timeout)
                if not data:
                    break
                spool.write(data)
        except BaseException:
            spool.close()
            raise
        return Response(conn, head, spool)

    def buffered(self, head: ResponseHead) -> bool:
        """Whether the response is read whole before the client gets it."""
        options = self.options
        said = accel_buffering(head.headers)
        if said is not None:
            return said
        if options.stream_event_streams:
            kind = header_value(head.headers, b"content-type")
            if kind is not None and kind.split(b";")[0].strip().lower() == b"text/event-stream":
                return False
        return options.response_buffering

    # -- the answer ------------------------------------------------------------------------

    def response_fields(
        self, job: Job, head: ResponseHead, *, tunnel: bool = False
    ) -> list[tuple[bytes, bytes]]:
        trace = job.forwarding.trace
        fields = response_fields(head.headers, tunnel=tunnel, trace=trace)
        if self.options.response_request_id and header_value(fields, b"x-request-id") is None:
            fields.append((b"x-request-id", job.forwarding.request_id))
        self._journey(fields, job)
        return fields

    def _journey(self, fields: list[tuple[bytes, bytes]], job: Job) -> None:
        """The edge's Server-Timing entry and, when asked by a trusted peer, its trace field."""
        if self.options.server_timing:
            spent = time.perf_counter() - job.received - job.waited
            add_timing(fields, timing_entry(spent))
        if job.forwarding.trace:
            server = job.server
            upstream = None if server is None else server.address.label
            fields.append(trace_field(self.prefix, upstream=upstream, attempts=job.attempts))

    async def _relay(self, job: Job, server: Upstream, response: Response) -> None:
        conn, head, spool = response.conn, response.head, response.spool
        if server.wsgi_conns:
            server.learn(head.headers)
        if head.status == 101:
            server.release()
            server.record_success()
            self._tunnel(job, conn, head)
            return
        exchange = job.exchange
        if spool is not None and conn.complete:
            # Buffered whole: the upstream connection is free before the client gets a byte.
            trailers = conn.trailers or None
            server.release()
            server.record_success()
            server.pool.put(conn)
            try:
                await self._send_buffered(exchange, job, head, spool, trailers)
            finally:
                spool.close()
            return
        self.stats.streamed_responses += 1
        try:
            exchange.start(head.status, self.response_fields(job, head))
            if spool is not None:
                for piece in spool.pieces():
                    exchange.write(piece)
                    await exchange.drain()
                spool.close()
            timeout = self.options.read_timeout
            while True:
                data = await conn.read_body(timeout)
                if not data:
                    break
                exchange.write(data)
                if exchange.write_paused:
                    await exchange.drain()
            exchange.end(b"", conn.trailers or None)
        except UpstreamError as exc:
            log.warning("upstream %s failed mid-response: %s", server.name, exc)
            server.record_failure()
            conn.abort()
            exchange.abort()
        except BaseException:
            conn.abort()
            raise
        else:
            server.record_success()
            server.pool.put(conn)
        finally:
            server.release()
            if spool is not None:
                spool.close()

    async def _send_buffered(
        self,
        exchange: Exchange,
        job: Job,
        head: ResponseHead,
        spool: Spool,
        trailers: list[tuple[bytes, bytes]] | None,
    ) -> None:
        exchange.start(head.status, self.response_fields(job, head), trailers=bool(trailers))
        if spool.file is None:
            exchange.end(spool.getvalue(), trailers)
            return
        self.stats.spooled_responses += 1
        spool.flush()
        await exchange.sendfile(spool.file, 0, spool.size)
        exchange.end(b"", trailers)

    def _tunnel(self, job: Job, conn: UpstreamConnection, head: ResponseHead) -> None:
        transport = conn.transport
        assert transport is not None
        exchange = job.exchange
        fields = self.response_fields(job, head, tunnel=True)
        answer = status_line(101) + encode_fields(fields) + CRLF
        tunnel = Tunnel(self.options.tunnel_idle_timeout, exchange.server_set)
        transport.set_protocol(tunnel.upstream)
        tunnel.upstream.connection_made(transport)
        try:
            exchange.switch_protocol(answer, tunnel.client)
        except ClientDisconnected:
            transport.abort()
            raise
        self.stats.tunnels += 1
        client = tunnel.client.transport
        if conn.tunnel_data and client is not None:
            client.write(conn.tunnel_data)
        if not tunnel.client.write_paused:
            transport.resume_reading()

    def answer_error(self, exchange: Exchange, status: int, job: Job | None) -> None:
        if exchange.started:
            if not exchange.finished:
                exchange.abort()
            return
        if exchange.disconnected:
            return
        fields = [PAGE_TYPE]
        if job is not None:
            if self.options.response_request_id:
                fields.append((b"x-request-id", job.forwarding.request_id))
            self._journey(fields, job)
        try:
            exchange.start(status, fields)
            exchange.end(error_page(status))
        except ClientDisconnected:
            pass


class Queued(Waiter):
    """A request without a body waiting, with no task, for a slot of its group."""

    __slots__ = ("job", "route")

    def __init__(self, route: ProxyRoute, job: Direct) -> None:
        super().__init__()
        self.route = route
        self.job = job

    def take(self, server: Upstream) -> bool:
        if self.job.exchange.disconnected:
            self.job.exchange.abort()
            return False
        self.route.dispatch(self.job, server)
        return True

    def expired(self, overflow: bool) -> None:
        route, job = self.route, self.job
        if overflow:
            server = route.group.pick(job.key, (), limit=False)
            if server is not None:
                server.active += 1
                route.dispatch(job, server)
                return
        route.stats.failures += 1
        route.answer_error(job.exchange, 503, job)


class Waiting(Waiter):
    """A request's task waiting for a slot on a server it has not tried yet."""

    __slots__ = ("future", "group", "key", "tried")

    def __init__(
        self,
        future: asyncio.Future[Upstream | None],
        group: UpstreamGroup,
        key: bytes | None,
        tried: list[Upstream],
    ) -> None:
        super().__init__()
        self.future = future
        self.group = group
        self.key = key
        self.tried = tried

    def accepts(self, server: Upstream) -> bool:
        return server not in self.tried

    def take(self, server: Upstream) -> bool:
        if self.future.done():
            return False
        self.future.set_result(server)
        return True

    def expired(self, overflow: bool) -> None:
        if self.future.done():
            return
        server = None
        if overflow:
            server = self.group.pick(self.key, self.tried, limit=False)
            if server is not None:
                server.active += 1
        self.future.set_result(server)
