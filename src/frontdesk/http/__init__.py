"""The shared HTTP/1.1 core that the edge and the application server both speak.

- ``rules``: RFC 9112 strictness as data (tokens, hosts, statuses, hop-by-hop names);
- ``limits``: the numbers a connection enforces;
- ``request``: one parsed request head and its body buffer;
- ``parser``: httptools (llhttp) wrapped into validated ``Request`` objects;
- ``writer``: response heads, chunk framing and the core's own error answers;
- ``prepared``: ``PreparedHead``, a response head checked and encoded once;
- ``sendfile``: zero-copy file bodies around a uvloop transport;
- ``clock``: the per-second Date header and the timeout sweep;
- ``connection``: one client connection (keep-alive, pipelining, flow control, timeouts)
  and ``Exchange``, the seam handed to a request handler;
- ``server``: listeners and the set of live connections, graceful shutdown.
"""

from __future__ import annotations

from frontdesk.http.connection import Handler, HttpConnection
from frontdesk.http.exchange import Exchange
from frontdesk.http.limits import HttpLimits
from frontdesk.http.prepared import PreparedHead
from frontdesk.http.request import Request
from frontdesk.http.server import HttpServer

__all__ = [
    "Exchange",
    "Handler",
    "HttpConnection",
    "HttpLimits",
    "HttpServer",
    "PreparedHead",
    "Request",
]
